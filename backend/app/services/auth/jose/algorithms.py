"""The algorithms, curves and key sizes this service accepts, and what a JWK may not carry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# --- algorithm families --------------------------------------------------------------------

EDDSA_ALGORITHMS: Final = frozenset({"EdDSA", "Ed25519"})
RSA_PKCS1_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512"})
RSA_PSS_ALGORITHMS: Final = frozenset({"PS256", "PS384", "PS512"})
EC_ALGORITHMS: Final = frozenset({"ES256", "ES384", "ES512"})
#: Every algorithm this module can verify. Symmetric (HS*) and ``none`` are deliberately absent:
#: a verifier that only holds public keys must never accept them.
ASYMMETRIC_ALGORITHMS: Final = (
    EDDSA_ALGORITHMS | RSA_PKCS1_ALGORITHMS | RSA_PSS_ALGORITHMS | EC_ALGORITHMS
)

_HASHES: Final[Mapping[str, type[hashes.HashAlgorithm]]] = MappingProxyType(
    {
        "RS256": hashes.SHA256,
        "RS384": hashes.SHA384,
        "RS512": hashes.SHA512,
        "PS256": hashes.SHA256,
        "PS384": hashes.SHA384,
        "PS512": hashes.SHA512,
    }
)


@dataclass(frozen=True)
class _Curve:
    alg: str
    curve: type[ec.EllipticCurve]
    size: int  # bytes per coordinate (RFC 7518 §6.2.1.2)


_EC_CURVES: Final[Mapping[str, _Curve]] = MappingProxyType(
    {
        "P-256": _Curve("ES256", ec.SECP256R1, 32),
        "P-384": _Curve("ES384", ec.SECP384R1, 48),
        "P-521": _Curve("ES512", ec.SECP521R1, 66),
    }
)

# RFC 7518 §3.3: RSA keys of 2048 bits or more MUST be used. The upper bound keeps a hostile or
# broken JWKS from making every verification arbitrarily expensive.
_RSA_MIN_BITS: Final = 2048
_RSA_MAX_BITS: Final = 16384

# Members that only a private or symmetric JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4).
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class InvalidJwkError(ValueError):
    """A JWK that cannot (or must not) be used to verify tokens."""
