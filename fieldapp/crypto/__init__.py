"""Key vault, encrypted TinyDB storage, sealing records to the hub's key (the store issue)."""
