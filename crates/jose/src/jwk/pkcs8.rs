//! Private-key import and export between a JWK and PKCS#8 (DER and PEM `PRIVATE KEY`), checked for consistency
//! on import. Must not implement the DER codec itself (that is `crate::pkcs8`) or accept public-only keys.

use zeroize::Zeroizing;

use super::parse::check_rsa_public;
use super::{Jwk, Material};
use crate::backend::Backend;
use crate::error::KeyError;
use crate::pkcs8::{self, DecodedPrivate};

impl Jwk {
    /// Reads a private key from PKCS#8 DER (P-256, P-384, RSA, Ed25519).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Jwk, KeyError> {
        Self::from_pkcs8_der_with(der, Backend::default())
    }

    pub(super) fn from_pkcs8_der_with(der: &[u8], backend: Backend) -> Result<Jwk, KeyError> {
        let material = match pkcs8::decode_private(der)? {
            DecodedPrivate::Ec { curve, d, x, y } => Material::Ec {
                curve,
                x,
                y,
                d: Some(d),
            },
            DecodedPrivate::Rsa { n, e, parts } => {
                if n.first() == Some(&0) || e.first() == Some(&0) {
                    return Err(KeyError::InvalidPkcs8);
                }
                check_rsa_public(&n, &e)?;
                Material::Rsa {
                    n,
                    e,
                    private: Some(Box::new(parts)),
                }
            }
            DecodedPrivate::Ed25519 { d, x } => {
                let derived = backend.provider().ed25519_public(&d)?;
                if x.as_ref().is_some_and(|x| *x != derived) {
                    return Err(KeyError::Rejected);
                }
                Material::Ed25519 {
                    x: derived,
                    d: Some(d),
                }
            }
        };
        let jwk = Jwk::bare(material);
        // Make sure the private key is consistent before handing it out.
        jwk.signing_key_with(backend)?;
        Ok(jwk)
    }

    /// Reads a private key from a PEM `PRIVATE KEY` (PKCS#8) document.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Jwk, KeyError> {
        let der = pkcs8::pem_decode(pem)?;
        Self::from_pkcs8_der(&der)
    }

    /// Writes the private key as PKCS#8 DER. Public-only and `oct` keys are refused.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let der = match &self.material {
            Material::Ec {
                curve,
                x,
                y,
                d: Some(d),
            } => {
                let mut point = vec![4];
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                pkcs8::ec_private_pkcs8_der(*curve, d, &point)?
            }
            Material::Rsa {
                n,
                e,
                private: Some(p),
            } => pkcs8::rsa_private_pkcs8_der(n, e, p)?,
            Material::Ed25519 { d: Some(d), .. } => pkcs8::ed25519_private_pkcs8_der(d)?,
            Material::Oct { .. } => return Err(KeyError::UnsupportedKeyType("oct".into())),
            _ => return Err(KeyError::NotPrivate),
        };
        Ok(Zeroizing::new(der))
    }

    /// Writes the private key as a PEM `PRIVATE KEY` (PKCS#8) document.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        pkcs8::pem_encode(&self.to_pkcs8_der()?)
    }
}
