"""C2SP signed notes, tlog checkpoints and cosignature/v1: known answers, round trips, named rejections."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from crdt.errors import ProofError
from crdt.keys import DeviceKey
from crdt.note import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    NoteSignature,
    Verifier,
    add_signatures,
    cosign,
    cosignature_message,
    open_checkpoint,
    parse_cosignature,
    parse_note,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verify_cosignature,
    verify_cosignatures,
    verify_note,
)

LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
WITNESS_KEY = DeviceKey.from_seed(bytes(range(2, 34)))
WITNESS2_KEY = DeviceKey.from_seed(bytes(range(3, 35)))
ORIGIN = "linli.example/district-7"


def pub(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


LOG = Verifier(ORIGIN, pub(LOG_KEY))
WITNESS = Verifier("kiosk-a.linli.example", WITNESS_KEY.public_bytes, SIG_COSIGNATURE_V1)
WITNESS2 = Verifier("committee.linli.example", WITNESS2_KEY.public_bytes, SIG_COSIGNATURE_V1)
CHECKPOINT = Checkpoint(ORIGIN, 20852163, hashlib.sha256(b"root").digest())

# The example of golang.org/x/mod/sumdb/note: its signer key, verifier key, text and signed note.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


# --- signed notes -------------------------------------------------------------------------------------


def test_signing_the_go_sumdb_note_example_gives_its_exact_bytes_and_verifies_with_its_vkey() -> None:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])[1:]
    assert sign_note(GO_TEXT, Ed25519PrivateKey.from_private_bytes(seed), "PeterNeumann") == GO_NOTE
    verifier = parse_verifier_key(GO_VKEY)
    assert verifier.vkey() == GO_VKEY
    assert verifier.key_id == bytes.fromhex("c74f20a3")
    note = verify_note(GO_NOTE, verifier)
    assert note.body == GO_TEXT and note.text() == GO_NOTE


def test_a_note_signed_with_a_device_key_verifies_and_its_key_id_follows_the_spec() -> None:
    text = sign_note("hello\nworld\n", WITNESS_KEY, "kiosk-a")
    note = verify_note(text.encode(), Verifier("kiosk-a", WITNESS_KEY.public_bytes))
    want_id = hashlib.sha256(b"kiosk-a\n\x01" + WITNESS_KEY.public_bytes).digest()[:4]
    assert note.signatures[0].key_id == want_id and note.body == "hello\nworld\n"


def test_signers_the_verifier_does_not_know_are_ignored_but_one_known_signature_is_required() -> None:
    text = add_signatures(sign_note("body\n", LOG_KEY, ORIGIN), [NoteSignature("stranger", b"\0" * 4, b"x" * 64)])
    assert len(verify_note(text, [LOG, Verifier("other", pub(OTHER_KEY))]).signatures) == 2
    with pytest.raises(ProofError, match="no signature by a known key"):
        verify_note(text, Verifier("other", pub(OTHER_KEY)))


def test_a_signature_by_a_different_key_under_the_same_name_is_not_accepted() -> None:
    text = sign_note("body\n", OTHER_KEY, ORIGIN)
    with pytest.raises(ProofError, match="no signature by a known key"):
        verify_note(text, LOG)


def test_an_altered_body_fails_with_the_signers_name() -> None:
    text = sign_note("size 10\n", LOG_KEY, ORIGIN)
    with pytest.raises(ProofError, match=f"signature by '{ORIGIN}'.*does not verify"):
        verify_note(text.replace("size 10", "size 11"), LOG)


def test_a_forged_signature_with_the_right_key_id_fails_even_beside_a_good_one() -> None:
    good = sign_note("body\n", LOG_KEY, ORIGIN)
    forged = NoteSignature(ORIGIN, LOG.key_id, bytes(64))
    text = parse_note(good).body + "\n" + parse_note(good).signatures[0].line() + forged.line()
    with pytest.raises(ProofError, match="does not verify"):
        verify_note(text, LOG)


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda t: t[:-5] + "\n", "does not verify"),
        (lambda t: t[:-6] + "\n", "not valid base64"),
        (lambda t: t[: t.rindex(" ") + 1] + t[t.rindex(" ") + 1 : -9] + "\n", "does not verify"),
        (lambda t: t[:-1] + " \n", "not valid base64"),
        (lambda t: t.replace(f"{ORIGIN} ", f"{ORIGIN}  "), "not valid base64"),
        (lambda t: t + "\n", "no signature lines"),
        (lambda t: t[:-1], "does not end in a newline"),
        (lambda t: t.replace("\n", "\r\n"), "control character U\\+000D"),
        (lambda t: t.replace("\u2014 ", " \u2014 "), "does not start with an em dash"),
        (lambda t: t.replace("\u2014 ", "-- "), "does not start with an em dash"),
        (lambda t: t.replace("\n\n", "\n"), "no blank line"),
        (lambda t: t.replace(f"{ORIGIN} ", ORIGIN), "no space between key name and signature"),
        (lambda t: t.replace("body", "bo\tdy"), "control character U\\+0009"),
    ],
)
def test_malformed_notes_are_rejected_with_the_reason(mangle, reason) -> None:  # type: ignore[no-untyped-def]
    text = sign_note("body\n", LOG_KEY, ORIGIN)
    assert verify_note(text, LOG)
    with pytest.raises(ProofError, match=reason):
        verify_note(mangle(text), LOG)


def test_invalid_utf8_too_many_signatures_and_bad_names_are_rejected() -> None:
    with pytest.raises(ProofError, match="not valid UTF-8"):
        parse_note(b"body\xff\n\n\xe2\x80\x94 a AAAAAAA=\n")
    sig = NoteSignature("w", b"\0" * 4, b"s")
    with pytest.raises(ProofError, match="more than 100"):
        parse_note("body\n\n" + sig.line() * 101)
    assert len(parse_note("body\n\n" + sig.line() * 16).signatures) == 16
    for name in ("", "a b", "a+b", "a\u00a0b"):
        with pytest.raises(ProofError, match="key name"):
            sign_note("body\n", LOG_KEY, name)
    with pytest.raises(ProofError, match="must end in a newline"):
        sign_note("body", LOG_KEY, ORIGIN)


def test_a_text_may_hold_blank_lines_as_the_last_blank_line_separates_the_signatures() -> None:
    text = sign_note("one\n\ntwo\n", LOG_KEY, ORIGIN)
    assert verify_note(text, LOG).body == "one\n\ntwo\n"


# --- verifier keys ----------------------------------------------------------------------------------


def test_verifier_keys_round_trip_for_note_and_cosignature_types() -> None:
    for v in (LOG, WITNESS):
        assert parse_verifier_key(v.vkey()) == v
    assert LOG.vkey().startswith(f"{ORIGIN}+{LOG.key_id.hex()}+")
    assert base64.b64decode(LOG.vkey().split("+", 2)[2]) == b"\x01" + LOG.public_key
    assert base64.b64decode(WITNESS.vkey().split("+", 2)[2]) == b"\x04" + WITNESS.public_key


@pytest.mark.parametrize(
    ("vkey", "reason"),
    [
        ("name-only", "is not <name>\\+<key id>\\+<key>"),
        ("a b+00000000+AQ==", "key name"),
        ("n+0000000g+" + base64.b64encode(b"\x01" + bytes(32)).decode(), "not 8 hex digits"),
        ("n+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(), "does not match the key"),
        ("n+00000000+" + base64.b64encode(b"\x01" + bytes(31)).decode(), "got 32 bytes"),
        ("n+00000000+" + base64.b64encode(b"\x02" + bytes(32)).decode(), "unknown signature type 0x02"),
        ("n+00000000+AQ=!", "not valid base64"),
    ],
)
def test_malformed_verifier_keys_are_rejected_with_the_reason(vkey: str, reason: str) -> None:
    with pytest.raises(ProofError, match=reason):
        parse_verifier_key(vkey)


# --- checkpoints ----------------------------------------------------------------------------------------


def test_a_checkpoint_body_is_origin_size_and_base64_root_and_parses_back() -> None:
    cp = Checkpoint("example.com/behind-the-sofa", 20852163, base64.b64decode(ROOT_B64), ("ext one",))
    body = "example.com/behind-the-sofa\n20852163\n" + ROOT_B64 + "\next one\n"
    assert cp.to_body() == body and Checkpoint.parse(body) == cp


ROOT_B64 = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


@given(
    origin=st.text(st.characters(min_codepoint=0x20, exclude_characters="\x7f"), min_size=1, max_size=40),
    size=st.integers(0, (1 << 63) - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.text(st.characters(min_codepoint=0x21), min_size=1, max_size=20), max_size=3),
)
def test_every_valid_checkpoint_round_trips_through_its_body(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    cp = Checkpoint(origin, size, root, tuple(extensions))
    assert Checkpoint.parse(cp.to_body()) == cp


@pytest.mark.parametrize(
    ("size_line", "root_line", "reason"),
    [
        ("007", ROOT_B64, "not a canonical decimal"),
        ("+7", ROOT_B64, "not a canonical decimal"),
        ("-1", ROOT_B64, "not a canonical decimal"),
        (" 7", ROOT_B64, "not a canonical decimal"),
        ("7 ", ROOT_B64, "not a canonical decimal"),
        ("\u0667", ROOT_B64, "not a canonical decimal"),
        ("", ROOT_B64, "not a canonical decimal"),
        ("0x10", ROOT_B64, "not a canonical decimal"),
        ("9223372036854775808", ROOT_B64, "not an integer in 0..2\\^63-1"),
        ("7", ROOT_B64[:-1], "not valid base64"),
        ("7", ROOT_B64 + " ", "not valid base64"),
        ("7", ROOT_B64[:42] + "J=", "not canonical base64"),
        ("7", base64.b64encode(bytes(31)).decode(), "has 31 bytes, expected 32"),
        ("7", base64.b64encode(bytes(33)).decode(), "has 33 bytes, expected 32"),
    ],
)
def test_bad_checkpoint_sizes_and_roots_are_rejected_with_the_reason(
    size_line: str, root_line: str, reason: str
) -> None:
    with pytest.raises(ProofError, match=reason):
        Checkpoint.parse(f"{ORIGIN}\n{size_line}\n{root_line}\n")


def test_checkpoint_bodies_with_missing_lines_or_empty_extensions_are_rejected() -> None:
    with pytest.raises(ProofError, match="at least 3 lines"):
        Checkpoint.parse(f"{ORIGIN}\n7\n")
    with pytest.raises(ProofError, match="ending in a newline"):
        Checkpoint.parse(f"{ORIGIN}\n7\n{ROOT_B64}")
    with pytest.raises(ProofError, match="extension line must be a non-empty"):
        Checkpoint.parse(f"{ORIGIN}\n7\n{ROOT_B64}\n\n")
    with pytest.raises(ProofError, match="origin must be a non-empty"):
        Checkpoint.parse(f"\n7\n{ROOT_B64}\n")
    with pytest.raises(ProofError, match="root must be 32 bytes"):
        Checkpoint(ORIGIN, 7, b"short")


def test_a_signed_checkpoint_opens_with_the_log_key_and_checks_the_expected_origin() -> None:
    text = sign_checkpoint(CHECKPOINT, LOG_KEY, ORIGIN)
    assert open_checkpoint(text, LOG, origin=ORIGIN) == CHECKPOINT
    with pytest.raises(ProofError, match="is not the expected 'linli.example/district-8'"):
        open_checkpoint(text, LOG, origin="linli.example/district-8")
    with pytest.raises(ProofError, match="no signature by a known key"):
        open_checkpoint(text, Verifier(ORIGIN, pub(OTHER_KEY)))
    with pytest.raises(ProofError, match="does not verify"):
        open_checkpoint(text.replace("20852163", "20852164"), LOG)


# --- cosignatures ---------------------------------------------------------------------------------------


def test_the_cosigned_message_is_the_spec_example_byte_for_byte() -> None:
    cp = Checkpoint("example.com/behind-the-sofa", 20852163, base64.b64decode(ROOT_B64))
    want = (
        "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert cosignature_message(cp, 1679315147) == want.encode()


def test_the_spec_example_cosignature_line_carries_its_timestamp_after_the_key_id() -> None:
    line = (
        "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
        "qhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    sig = NoteSignature.parse(line)
    timestamp, ed_sig = parse_cosignature(sig)
    assert (sig.name, sig.key_id.hex(), timestamp, len(ed_sig)) == (
        "witness.example.com/w1",
        "8d66cf3f",
        1679315147,
        64,
    )


def test_a_cosignature_round_trips_and_uses_key_id_type_0x04() -> None:
    sig = cosign(CHECKPOINT, WITNESS_KEY, WITNESS.name, 1_700_000_000)
    assert sig.key_id == hashlib.sha256(WITNESS.name.encode() + b"\n\x04" + WITNESS_KEY.public_bytes).digest()[:4]
    assert sig.signature[:8] == (1_700_000_000).to_bytes(8, "big") and len(sig.signature) == 72
    assert verify_cosignature(CHECKPOINT, sig, WITNESS) == 1_700_000_000
    assert verify_cosignature(CHECKPOINT, sig.line(), Verifier(WITNESS.name, WITNESS.public_key)) == 1_700_000_000


def test_cosignatures_that_do_not_match_are_rejected_with_the_reason() -> None:
    sig = cosign(CHECKPOINT, WITNESS_KEY, WITNESS.name, 1_700_000_000)
    with pytest.raises(ProofError, match="has key id .* the witness key's is"):
        verify_cosignature(CHECKPOINT, sig, Verifier(WITNESS.name, WITNESS2_KEY.public_bytes, SIG_COSIGNATURE_V1))
    with pytest.raises(ProofError, match="not by witness 'committee.linli.example'"):
        verify_cosignature(CHECKPOINT, sig, WITNESS2)
    moved = Checkpoint(CHECKPOINT.origin, CHECKPOINT.size + 1, CHECKPOINT.root)
    with pytest.raises(ProofError, match="at time 1700000000 does not verify for checkpoint .* size 20852164"):
        verify_cosignature(moved, sig, WITNESS)
    later = NoteSignature(sig.name, sig.key_id, (1_700_000_001).to_bytes(8, "big") + sig.signature[8:])
    with pytest.raises(ProofError, match="at time 1700000001 does not verify"):
        verify_cosignature(CHECKPOINT, later, WITNESS)
    short = NoteSignature(sig.name, sig.key_id, sig.signature[:-1])
    with pytest.raises(ProofError, match="has 71 bytes after the key id, expected 72"):
        verify_cosignature(CHECKPOINT, short, WITNESS)
    huge = NoteSignature(sig.name, sig.key_id, b"\x80" + sig.signature[1:])
    with pytest.raises(ProofError, match="beyond 2\\^63-1"):
        verify_cosignature(CHECKPOINT, huge, WITNESS)
    with pytest.raises(ProofError, match="timestamp -1 is not an integer"):
        cosign(CHECKPOINT, WITNESS_KEY, WITNESS.name, -1)


def test_a_published_checkpoint_carries_the_log_signature_and_verifiable_cosignatures() -> None:
    text = sign_checkpoint(CHECKPOINT, LOG_KEY, ORIGIN)
    text = add_signatures(
        text,
        [
            cosign(CHECKPOINT, WITNESS_KEY, WITNESS.name, 1_700_000_000),
            cosign(CHECKPOINT, WITNESS2_KEY, WITNESS2.name, 1_700_000_005),
        ],
    )
    assert open_checkpoint(text, LOG, origin=ORIGIN) == CHECKPOINT  # cosignature lines are unknown keys there
    assert verify_cosignatures(text, [WITNESS, WITNESS2]) == {WITNESS.name: 1_700_000_000, WITNESS2.name: 1_700_000_005}
    assert verify_cosignatures(text, [WITNESS]) == {WITNESS.name: 1_700_000_000}
    newer = add_signatures(text, [cosign(CHECKPOINT, WITNESS_KEY, WITNESS.name, 1_700_000_100)])
    assert len(parse_note(newer).signatures) == 3
    assert verify_cosignatures(newer, [WITNESS])[WITNESS.name] == 1_700_000_100


def test_a_cosignature_is_not_a_note_signature_and_a_bad_one_from_a_known_witness_fails() -> None:
    only_cosigned = add_signatures(
        sign_checkpoint(CHECKPOINT, OTHER_KEY, "someone-else"),
        [cosign(CHECKPOINT, WITNESS_KEY, WITNESS.name, 5)],
    )
    with pytest.raises(ProofError, match="no signature by a known key"):
        verify_note(only_cosigned, Verifier(WITNESS.name, WITNESS.public_key, SIG_ED25519))
    with pytest.raises(ProofError, match="cosignature key"):
        verify_note(only_cosigned, WITNESS)
    forged = add_signatures(only_cosigned, [NoteSignature(WITNESS.name, WITNESS.key_id, bytes(72))])
    with pytest.raises(ProofError, match=f"cosignature by '{WITNESS.name}' at time 0 does not verify"):
        verify_cosignatures(forged, [WITNESS])
