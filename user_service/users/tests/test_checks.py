"""The system check catches a public key that does not belong to the signing key."""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from users.checks import jwt_keys_match


def test_matching_keys_pass():
    assert jwt_keys_match(None) == []


def test_a_foreign_public_key_is_an_error(settings):
    foreign = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings.SIMPLE_JWT = dict(settings.SIMPLE_JWT, VERIFYING_KEY=foreign)

    assert [e.id for e in jwt_keys_match(None)] == ["users.E002"]
