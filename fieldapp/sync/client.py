"""The phone's side of sync: enrol, push, pull, seal and purge, over networks that fail.

Everything the phone knows about its hub (the device token, its ids, the hub's address, the
hub's whole public key, the school's pack and contacts, the pull cursor) is kept in the
encrypted store's settings, never in clear. One `SyncClient.sync()` is one pass:

1. alerts (safe phrase, 999, duress) are pushed first, alone, with `Priority: u=0`;
2. the rest of what this phone recorded is pushed in batches (a 413 halves a batch); the hub's
   acknowledgement is what takes an event off the queue; an event it refuses or holds with other
   content is set aside with the hub's reason, shown, and never blocks the others;
3. the visits this member of staff is on are pulled from the cursor (what comes by pull is
   the hub's already: it is never pushed); the school's pack and contacts come with them; a
   hub database the phone has not met, or one gone back behind the phone's cursor (a restored
   backup), means pulling from the start and pushing again everything the phone holds;
4. each visit that is over (back at school, debriefed, cancelled) and wholly acknowledged is
   sealed to the hub's key and purged, keeping a receipt without personal data;
5. the sealed records are sent; the hub's acknowledgement takes each out of the outbox.

A failure says what to do in plain words (`SyncError.say`) and loses nothing: whatever was not
acknowledged is still waiting. Requests and answers are gzip-compressed.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import ipaddress
import json
import secrets
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fieldapp.crypto.sealing import SealError, key_fingerprint, load_public_key, seal
from fieldapp.domain.events import ALERTS, Author, Event, EventError
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import Pack, PackError, parse_pack
from fieldapp.domain.state import fold
from fieldapp.store.repository import NotAcknowledgedError, Repository
from fieldapp.store.session import Sender
from fieldapp.sync.protocol import MAX_BATCH, MAX_UNLOCKS, PROTOCOL
from fieldapp.sync.records import MAX_RECORDS, new_record_id, visit_record
from fieldapp.sync.slip import key_check, read_slip

BATCH: Final = MAX_BATCH  # events a push carries at most: each round trip counts on 2G (a 413
# halves a batch)
RECORDS_AT_ONCE: Final = MAX_RECORDS
OVER: Final = (Phase.RETURNED, Phase.DEBRIEFED, Phase.CANCELLED)
ENROLMENT: Final = "enrolment"  # the settings the phone keeps, by name
ENROLLING: Final = "enrolling"
CONFLICT: Final = "the hub holds another event with this id"
MAX_ANSWER: Final = 16 * 2**20  # the most a hub's answer may inflate to (a pull: a few 100 KiB)
assert BATCH <= MAX_BATCH and RECORDS_AT_ONCE <= MAX_RECORDS

Clock = Callable[[], datetime]


class SyncError(Exception):
    """Sync could not finish; `say` is for the screen. Nothing acknowledged was lost."""

    def __init__(self, say: str) -> None:
        super().__init__(say)
        self.say = say


class Offline(SyncError):
    """No connection to the hub, or it did not answer in time: try again later."""


class HubFault(SyncError):
    """The hub answered, but not as a hub does: garbage, HTML, a 5xx, a body cut short."""


class NotEnrolled(SyncError):
    """The hub does not know this phone's token: enrol it again (nothing is wiped)."""


class Revoked(SyncError):
    """The school revoked this phone: it must wipe itself."""


class EnrolmentError(SyncError):
    """Enrolment refused: a wrong or used code, or a hub key that is not the slip's."""


@dataclass(frozen=True, slots=True)
class Enrolment:
    hub_url: str
    device_id: str
    token: str = field(repr=False)
    staff_id: str
    school_id: str
    school_name: str
    hub_public_key: str  # base64 of the 32 raw bytes, pinned whole
    tls_pins: tuple[str, ...] = ()  # the hub's TLS keys' SPKI pins, where the slip gives them

    @property
    def hub_key(self) -> bytes:
        return base64.b64decode(self.hub_public_key)


@dataclass(frozen=True, slots=True)
class Status:
    """What the screens show about sync."""

    enrolled: bool
    last_synced: str | None  # ISO time of the last sync that finished
    waiting: int  # events and sealed records not yet acknowledged
    quarantined: tuple[tuple[str, str], ...]  # (event id, the hub's reason)
    sealed_refused: tuple[tuple[str, str], ...]  # (record id, the hub's reason)
    problems: tuple[str, ...]  # what the last sync could not take from the hub, in words
    last_failure: str | None  # in plain words; None once a sync has finished since

    @property
    def settled(self) -> bool:
        """Nothing waits, and nothing is set aside: all this phone holds, the hub holds."""
        return not (self.waiting or self.quarantined or self.sealed_refused)


def check_hub_url(url: str) -> str:
    """The hub's address: HTTPS, or plain HTTP to this machine only (tests, the demo)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SyncError(f"the hub's address must start with https:// (got {url!r})")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise SyncError("the hub's address must use https:// (plain http only to this "
                        "machine, for tests and the demo)")
    return f"{parts.scheme}://{parts.netloc}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TlsPinMismatch(ssl.SSLError):
    """The hub's TLS key is none of the pinned ones."""


def spki_pin(certificate_der: bytes) -> str:
    """A certificate's SPKI pin: base64 of the SHA-256 of its SubjectPublicKeyInfo."""
    public = x509.load_der_x509_certificate(certificate_der).public_key()
    info = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(info).digest()).decode()


class _PinnedContext(ssl.SSLContext):
    """TLS that trusts the hub by its key's pin, checked in the handshake, before any byte of
    a request is sent: whoever signed the certificate (a school's own CA, or nobody)."""

    pins: frozenset[str] = frozenset()

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        wrapped = super().wrap_socket(sock, *args, **kwargs)
        der = wrapped.getpeercert(binary_form=True)
        if der is None or spki_pin(der) not in self.pins:
            wrapped.close()
            raise TlsPinMismatch("the hub's TLS key is not one the slip names")
        return wrapped


def pinned_tls(pins: Sequence[str]) -> ssl.SSLContext:
    context = _PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the pin is the trust: checked in wrap_socket
    context.pins = frozenset(pins)
    return context


@functools.cache
def verified_tls() -> ssl.SSLContext:
    """The usual trust for HTTPS without pins, loaded once a process: loading the CA bundle
    takes about 70 ms here, which every sync used to pay, alerts included."""
    return httpx.create_ssl_context()


class Hub:
    """HTTP to one hub: JSON both ways, gzip-compressed; every failure a SyncError. With
    `tls_pins` (from the slip), HTTPS only to a server holding one of those keys."""

    def __init__(self, url: str, token: str | None = None,
                 transport: httpx.BaseTransport | None = None, timeout: float = 30.0,
                 tls_pins: Sequence[str] = ()) -> None:
        self.url = check_hub_url(url)
        headers = {"User-Agent": "fieldapp-phone/1", "Accept-Encoding": "gzip"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if transport is None:
            transport = httpx.HTTPTransport(
                verify=pinned_tls(tls_pins) if tls_pins else verified_tls())
        self._client = httpx.Client(base_url=self.url, transport=transport, headers=headers,
                                    timeout=httpx.Timeout(timeout, connect=10.0))

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None,
             params: Mapping[str, Any] | None = None, urgent: bool = False,
             raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
        """One exchange: `body` as gzip-compressed JSON, or `raw` bytes as they are."""
        headers: dict[str, str] = {}
        content = raw
        if raw is not None:
            headers["Content-Type"] = "application/octet-stream"
        if body is not None:
            content = gzip.compress(json.dumps(body, separators=(",", ":")).encode(),
                                    compresslevel=6, mtime=0)
            headers.update({"Content-Type": "application/json", "Content-Encoding": "gzip"})
        if urgent:
            headers["Priority"] = "u=0"
        try:
            with self._client.stream(method, path, content=content, params=params,
                                     headers=headers) as answer:
                raw = _read_at_most(answer, MAX_ANSWER)
        except httpx.TimeoutException:
            raise Offline("the hub did not answer in time: it will try again") from None
        except (httpx.TransportError, OSError) as error:
            if _caused_by(error, TlsPinMismatch):
                raise HubFault("the server is not the school's hub (its TLS key is not the "
                               "one on the slip): nothing was sent; tell the school's IT") \
                    from None
            raise Offline(f"no connection to the hub ({type(error).__name__}): saved on this "
                          "phone, it will send when back in signal") from None
        if raw is None:
            raise HubFault(f"the hub's answer inflates past {MAX_ANSWER // 2**20} MiB: it is "
                           "not the hub's; it will try again")
        try:
            data = json.loads(raw)
        except ValueError:
            raise HubFault(f"the hub answered {answer.status_code} with something that is not "
                           "the hub's (a login page, a proxy?): it will try again") from None
        if not isinstance(data, dict):
            raise HubFault(f"the hub answered {answer.status_code} with an unexpected answer")
        if answer.status_code == 401:
            if data.get("wipe") is True:
                raise Revoked("the school has revoked this phone: it wipes itself now")
            raise NotEnrolled("the hub does not know this phone: enrol it again with a new "
                              "slip (nothing on it is lost)")
        if answer.status_code >= 500:
            raise HubFault(f"the hub had a problem ({answer.status_code}): it will try again")
        return answer.status_code, data


def _read_at_most(answer: httpx.Response, most: int) -> bytes | None:
    """The answer's body, decompressed, or None past `most` bytes (a gzip bomb is not read to
    its end: a few hundred KiB can inflate to gigabytes)."""
    body = bytearray()
    for chunk in answer.iter_bytes():
        body += chunk
        if len(body) > most:
            return None
    return bytes(body)


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def enrol(repository: Repository, url: str, slip: str, device_name: str = "phone",
          transport: httpx.BaseTransport | None = None,
          tls_pins: Sequence[str] = ()) -> Enrolment:
    """Enrol this phone with the hub at `url`, using the slip code typed or scanned. The hub's
    key is taken only if its check is the slip's; it is then pinned whole. An answer lost on
    the way can be asked for again (the same request id, kept in the store, asks for it)."""
    code, check = read_slip(slip)
    hub_url = check_hub_url(url)
    pending = repository.get(ENROLLING) or {}
    if pending.get("code") != code or pending.get("hub_url") != hub_url:
        pending = {"code": code, "hub_url": hub_url, "request_id": secrets.token_urlsafe(24)}
        repository.set(ENROLLING, pending)
    before = enrolment_of(repository)  # enrolling again: the hub lost this phone
    hub = Hub(hub_url, transport=transport, tls_pins=tls_pins)
    try:
        status, data = hub.call("POST", "/api/v1/enrol", {
            "code": code, "device_name": device_name, "request_id": pending["request_id"],
            "previous_device_id": before.device_id if before else "",
            # The token proves this is that device: only ever sent to the hub it came from.
            "previous_token": before.token if before and before.hub_url == hub_url else ""})
    finally:
        hub.close()
    if status == 403:
        raise EnrolmentError(str(data.get("message") or "the enrolment code was refused"))
    if status != 200:
        raise HubFault(f"the hub refused the enrolment ({status}): "
                       f"{str(data.get('message', ''))[:200]}")
    try:
        raw = base64.b64decode(str(data["hub_public_key"]), validate=True)
        if key_check(raw) != check:
            raise EnrolmentError("the hub's key is not the one on the slip: do not use this "
                                 "network to enrol; tell the school's IT")
        load_public_key(raw, pinned=key_fingerprint(raw))
        pack = parse_pack(str(data["pack"]), source="the school's pack")
        enrolment = Enrolment(hub_url, str(data["device_id"]), str(data["token"]),
                              str(data["staff_id"]), str(data["school_id"]),
                              str(data["school_name"]), base64.b64encode(raw).decode(),
                              tuple(tls_pins))
    except (KeyError, ValueError, SealError) as error:
        raise HubFault(f"the hub's enrolment answer cannot be used: {error}") from None
    repository.set(ENROLMENT, asdict(enrolment))
    _keep_pack(repository, str(data["pack"]), str(data.get("pack_version", "")), pack)
    repository.set(ENROLLING, None)
    return enrolment


def enrolment_of(repository: Repository) -> Enrolment | None:
    kept = repository.get(ENROLMENT)
    if kept is None:
        return None
    return Enrolment(**{**kept, "tls_pins": tuple(kept.get("tls_pins", ()))})


def duress_sender(repository: Repository) -> Sender | None:
    """Who a duress alert raised as this phone opens is from, and the hub key it is sealed
    to; None before the phone is enrolled (there is no hub to tell)."""
    enrolment = enrolment_of(repository)
    if enrolment is None:
        return None
    return Sender(Author(enrolment.staff_id, enrolment.device_id), enrolment.hub_key)


def pack_of(repository: Repository) -> Pack | None:
    """The school's pack as the phone holds it (enrolment, then pulls)."""
    text = repository.get("pack")
    return None if text is None else parse_pack(text, source="the school's pack")


def _keep_pack(repository: Repository, text: str, version: str, pack: Pack) -> None:
    repository.set("pack", text)
    repository.set("pack_version", version)
    repository.set("pack_id", pack.id)


@dataclass
class Report:
    pushed: int = 0
    pulled: int = 0
    quarantined: int = 0
    sealed: int = 0
    records_sent: int = 0
    restarted: bool = False  # met a hub database it had not met: pulled again from the start


class SyncClient:
    """One phone's sync with its hub. `on_wipe` is called when the school revoked the phone
    (the app wipes its vault and store there), before Revoked is raised."""

    def __init__(self, repository: Repository, transport: httpx.BaseTransport | None = None,
                 clock: Clock = lambda: datetime.now(UTC),
                 on_wipe: Callable[[], None] = lambda: None) -> None:
        self.repository = repository
        self.transport = transport
        self.clock = clock
        self.on_wipe = on_wipe
        self._problems: list[str] = []  # what this sync could not take from the hub

    # --- one pass ---------------------------------------------------------------------------

    def sync(self) -> Report:
        enrolment = enrolment_of(self.repository)
        if enrolment is None:
            raise NotEnrolled("this phone is not enrolled with the school's hub yet")
        hub = Hub(enrolment.hub_url, enrolment.token, self.transport,
                  tls_pins=enrolment.tls_pins)
        report = Report()
        self._problems = []
        try:
            self._send_unlocks(hub)
            report.pushed += self._push(hub, urgent=True)
            report.pushed += self._push(hub, urgent=False)
            self._pull(hub, enrolment, report)
            if report.restarted:  # the hub lost what it had acknowledged: send it again
                report.pushed += self._push(hub, urgent=True)
                report.pushed += self._push(hub, urgent=False)
            report.sealed = self._seal_finished(enrolment)
            report.records_sent = self._send_sealed(hub)
        except Revoked:
            self.repository.set("last_failure", "revoked")
            self.on_wipe()
            raise
        except SyncError as failure:
            self.repository.set("last_failure", failure.say)
            raise
        finally:
            hub.close()
        report.quarantined = len(self.repository.quarantined())
        self.repository.set("problems", self._problems or None)
        self.repository.set("last_synced", self.clock().isoformat())
        self.repository.set("last_failure", None)
        return report

    def status(self) -> Status:
        repo = self.repository
        sealed = dict(repo.sealed())
        refused = {k: v for k, v in (repo.get("sealed_refused") or {}).items() if k in sealed}
        return Status(
            enrolled=enrolment_of(repo) is not None, last_synced=repo.get("last_synced"),
            waiting=len(repo.unsynced()) + len(sealed) - len(refused),
            quarantined=tuple((event.id, why) for event, why in repo.quarantined()),
            sealed_refused=tuple(sorted(refused.items())),
            problems=tuple(repo.get("problems") or ()),
            last_failure=repo.get("last_failure"))

    # --- push -------------------------------------------------------------------------------

    def _send_unlocks(self, hub: Hub) -> None:
        """Every unlock token the store holds, first and urgently: one may be a duress alert
        (nothing here can tell which: only the hub can open it)."""
        tokens = self.repository.unlocks()
        for start in range(0, len(tokens), MAX_UNLOCKS):
            chunk = tokens[start:start + MAX_UNLOCKS]
            status, data = hub.call("POST", "/api/v1/push", {
                "protocol": PROTOCOL, "events": [],
                "unlocks": [base64.b64encode(t).decode("ascii") for t in chunk]}, urgent=True)
            if status not in (200, 409) or data.get("unlocks") != len(chunk):
                raise HubFault(f"the hub refused a push ({status}): "
                               f"{str(data.get('message', ''))[:200]}")
            self.repository.unlocks_sent(len(chunk))

    def _push(self, hub: Hub, urgent: bool) -> int:
        waiting = [e for e in self.repository.unsynced() if (e.type in ALERTS) is urgent]
        queue = [waiting[i:i + BATCH] for i in range(0, len(waiting), BATCH)]
        acknowledged = 0
        while queue:
            batch = queue.pop(0)
            status, data = hub.call("POST", "/api/v1/push",
                                    {"protocol": PROTOCOL, "events": [e.to_dict() for e in batch]},
                                    urgent=urgent)
            if status == 413 and len(batch) > 1:  # too big for the hub: halve it
                half = len(batch) // 2
                queue[:0] = [batch[:half], batch[half:]]
                continue
            if status == 413:
                self.repository.quarantine({batch[0].id: "too large for the hub to take"})
                continue
            if status not in (200, 409):
                raise HubFault(f"the hub refused a push ({status}): "
                               f"{str(data.get('message', ''))[:200]}")
            sent = {event.id for event in batch}
            stored = _ids(data, "stored") | _ids(data, "already")
            self.repository.mark_synced(stored & sent)
            acknowledged += len(stored & sent)
            reasons = {ref: CONFLICT for ref in _ids(data, "conflicts") & sent}
            for item in data.get("rejected", ()):
                if isinstance(item, dict) and item.get("ref") in sent:
                    reasons[str(item["ref"])] = str(item.get("reason", "refused"))[:300]
            self.repository.quarantine(reasons)
        return acknowledged

    # --- pull -------------------------------------------------------------------------------

    def _pull(self, hub: Hub, enrolment: Enrolment, report: Report) -> None:
        repo = self.repository
        while True:
            params: dict[str, Any] = {"cursor": repo.get("cursor", 0), "limit": MAX_BATCH,
                                      "pack_version": repo.get("pack_version", "")}
            if repo.get("baseline") is not None:
                params["baseline"] = repo.get("baseline")
            status, data = hub.call("GET", "/api/v1/pull", params=params)
            if status != 200:
                raise HubFault(f"the hub refused a pull ({status})")
            try:
                page = _page(data)
            except (KeyError, TypeError, ValueError) as error:
                raise HubFault(f"the hub's pull answer cannot be used: {error}") from None
            known = repo.get("database_id")
            behind = page.head < repo.get("cursor", 0)  # the hub went back: a restore
            if (behind or (known is not None and known != page.database_id)) and \
                    not report.restarted:
                self._start_again(enrolment, page.database_id)
                report.restarted = True
                continue
            repo.set("database_id", page.database_id)
            report.pulled += self._keep(page.events)
            if page.pack is not None:
                try:
                    _keep_pack(repo, page.pack, page.pack_version,
                               parse_pack(page.pack, source="the school's pack"))
                except PackError as error:  # keep the pack it has; say so
                    self._problems.append(f"the school's new pack cannot be used: {error}")
            repo.set("contacts", page.contacts)
            repo.set("baseline", page.baseline)
            repo.set("cursor", page.cursor)
            if not page.more:
                return

    def _start_again(self, enrolment: Enrolment, database_id: str) -> None:
        """A hub database this phone has not met, or gone back (restored from a backup): pull
        from the start, and push again everything of its own it still holds."""
        repo = self.repository
        repo.set("cursor", 0)
        repo.set("baseline", None)
        repo.set("database_id", database_id)
        mine = [e.id for v in repo.visit_ids() for e in repo.events(v)
                if e.author.device_id == enrolment.device_id]
        repo.resync(mine)

    def _keep(self, events: Sequence[Event]) -> int:
        """Store what the pull brought as the hub's (never pushed). One that clashes with an
        event this phone holds under the same id is left out and counted as a failure."""
        try:
            self.repository.append(events, synced=True)
        except EventError:
            for event in events:
                try:
                    self.repository.append([event], synced=True)
                except EventError:
                    self._problems.append(f"event {event.id} from the hub differs from the "
                                          "one this phone holds")
        self.repository.mark_synced(event.id for event in events)  # the hub holds them
        return len(events)

    # --- seal, purge and send ---------------------------------------------------------------

    def _seal_finished(self, enrolment: Enrolment) -> int:
        repo = self.repository
        waiting = {event.visit_id for event in repo.unsynced()}
        waiting |= {event.visit_id for event, _why in repo.quarantined()}
        sealed = 0
        for visit_id in repo.visit_ids():
            events = repo.events(visit_id)
            if visit_id in waiting or fold(events).phase not in OVER:
                continue
            receipt = {"sealed_at": self.clock().isoformat(), "events": len(events),
                       "first": events[0].at.isoformat(), "last": events[-1].at.isoformat()}
            ids = [event.id for event in events]
            try:
                if all(e.author.device_id != enrolment.device_id for e in events):
                    repo.drop(visit_id, receipt, ids)  # nothing its own: the hub has it all
                    continue
                record_id = new_record_id()
                envelope = seal(enrolment.hub_key, enrolment.school_id, record_id,
                                visit_record(visit_id, events))
                repo.finalise(visit_id, record_id, envelope, receipt, ids)
            except NotAcknowledgedError:  # a tap meanwhile: sealed on the next sync
                continue
            sealed += 1
        return sealed

    def _send_sealed(self, hub: Hub) -> int:
        outbox = list(self.repository.sealed())
        sent = 0
        for start in range(0, len(outbox), RECORDS_AT_ONCE):
            chunk = outbox[start:start + RECORDS_AT_ONCE]  # as sealed, back to back
            status, data = hub.call("POST", "/api/v1/sealed/envelopes",
                                    raw=b"".join(envelope for _id, envelope in chunk))
            if status not in (200, 409):
                raise HubFault(f"the hub refused sealed records ({status}): "
                               f"{str(data.get('message', ''))[:200]}")
            taken = _ids(data, "stored") | _ids(data, "already")
            for record_id, _envelope in chunk:
                if record_id in taken:
                    self.repository.acknowledge_sealed(record_id)
                    sent += 1
            refused = {str(r.get("ref")): str(r.get("reason", ""))[:300]
                       for r in data.get("rejected", ()) if isinstance(r, dict)}
            refused.update({ref: "the hub holds another record with this id"
                            for ref in _ids(data, "conflicts")})
            kept = {k: v for k, v in (self.repository.get("sealed_refused") or {}).items()
                    if k in dict(self.repository.sealed())}
            self.repository.set("sealed_refused", {**kept, **refused} or None)
        return sent


@dataclass(frozen=True, slots=True)
class _Page:
    events: tuple[Event, ...]
    cursor: int
    more: bool
    baseline: int
    head: int
    database_id: str
    pack: str | None
    pack_version: str
    contacts: dict[str, str]


def _page(data: Mapping[str, Any]) -> _Page:
    """A pull's answer, read strictly: every field as the protocol says."""
    events = tuple(Event.from_dict(item) for item in data["events"])
    cursor, baseline, head = data["cursor"], data["baseline"], data["head"]
    if not all(isinstance(n, int) and n >= 0 for n in (cursor, baseline, head)):
        raise ValueError("cursor, baseline and head are whole numbers")
    contacts = data["contacts"]
    if not isinstance(contacts, dict) or not all(isinstance(v, str) for v in contacts.values()):
        raise ValueError("contacts are text")
    pack = data.get("pack")
    return _Page(events, cursor, bool(data["more"]), baseline, head, str(data["database_id"]),
                 None if pack is None else str(pack), str(data["pack_version"]),
                 dict(contacts))


def _ids(data: Mapping[str, Any], key: str) -> set[str]:
    found = data.get(key, ())
    return {item for item in found if isinstance(item, str)} if isinstance(found, list) \
        else set()
