//! ID tokens: a JWS in compact form (`header.payload.signature`, base64url), signed RS256 or
//! ES256 with a key of the provider's JWKS, verified with `ring`. Nothing else is accepted: no
//! `none`, no HMAC (which would let a client secret sign tokens), no key inlined in the header.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;

/// Clock skew allowed between Sluice and the provider for `exp` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 60;

/// Why an ID token was refused (the message is safe to show and log: it holds no token).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the ID token is not a signed JWT: {0}")]
    Malformed(String),
    #[error("the ID token is signed with `{0}`; only RS256 and ES256 are accepted")]
    Algorithm(String),
    #[error("no key of the provider's JWKS fits the ID token (kid {0:?})")]
    UnknownKey(Option<String>),
    #[error("the ID token's signature is wrong")]
    Signature,
    #[error("the ID token's issuer is {found:?}, not {expected:?}")]
    Issuer { expected: String, found: String },
    #[error("the ID token is not for this client (aud {0})")]
    Audience(String),
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token was issued in the future")]
    IssuedInFuture,
    #[error("the ID token's nonce is not the one of this sign-in")]
    Nonce,
    #[error("the ID token lacks the claim `{0}`")]
    MissingClaim(&'static str),
}

/// One key of a JWKS (RFC 7517), the members Sluice reads.
#[derive(Clone, Debug, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    // RSA
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    // EC
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    fn kty(self) -> &'static str {
        match self {
            Alg::Rs256 => "RSA",
            Alg::Es256 => "EC",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
}

/// A token split and decoded, its signature not yet checked.
#[derive(Debug)]
pub struct Unverified {
    pub alg: Alg,
    pub kid: Option<String>,
    signed: Vec<u8>,
    signature: Vec<u8>,
    pub claims: serde_json::Map<String, Value>,
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed(format!("{what} is not base64url")))
}

/// Splits and decodes a compact JWS.
pub fn parse(token: &str) -> Result<Unverified, TokenError> {
    let mut parts = token.trim().split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed("it does not have three parts".into()));
    };
    let header: Value = serde_json::from_slice(&b64(h, "the header")?)
        .map_err(|_| TokenError::Malformed("the header is not JSON".into()))?;
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Alg::Rs256,
        Some("ES256") => Alg::Es256,
        Some(other) => return Err(TokenError::Algorithm(other.chars().take(20).collect())),
        None => return Err(TokenError::Malformed("the header has no `alg`".into())),
    };
    if header.get("crit").is_some() {
        return Err(TokenError::Malformed("the header has critical extensions (`crit`)".into()));
    }
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_string);
    let claims = match serde_json::from_slice(&b64(p, "the payload")?) {
        Ok(Value::Object(m)) => m,
        _ => return Err(TokenError::Malformed("the payload is not a JSON object".into())),
    };
    Ok(Unverified { alg, kid, signed: format!("{h}.{p}").into_bytes(), signature: b64(s, "the signature")?, claims })
}

/// The keys of `jwks` that may have signed a token of `alg` and `kid`.
pub fn candidates<'k>(jwks: &'k Jwks, alg: Alg, kid: Option<&str>) -> Vec<&'k Jwk> {
    jwks.keys
        .iter()
        .filter(|k| k.kty == alg.kty())
        .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == alg.name()))
        .filter(|k| match kid {
            Some(kid) => k.kid.as_deref() == Some(kid),
            None => true,
        })
        .collect()
}

/// Checks the signature with `key` (true: it verifies).
fn verifies(t: &Unverified, key: &Jwk) -> bool {
    let field = |v: &Option<String>| v.as_deref().and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok());
    match t.alg {
        Alg::Rs256 => {
            let (Some(n), Some(e)) = (field(&key.n), field(&key.e)) else { return false };
            RsaPublicKeyComponents { n: &n, e: &e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, &t.signed, &t.signature)
                .is_ok()
        }
        Alg::Es256 => {
            let (Some(x), Some(y)) = (field(&key.x), field(&key.y)) else { return false };
            if key.crv.as_deref() != Some("P-256") || x.len() != 32 || y.len() != 32 {
                return false;
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(&t.signed, &t.signature).is_ok()
        }
    }
}

/// Checks the signature against the keys of `jwks` that fit the token's `alg` and `kid`.
pub fn check_signature(t: &Unverified, jwks: &Jwks) -> Result<(), TokenError> {
    let keys = candidates(jwks, t.alg, t.kid.as_deref());
    if keys.is_empty() {
        return Err(TokenError::UnknownKey(t.kid.clone()));
    }
    if keys.iter().any(|k| verifies(t, k)) { Ok(()) } else { Err(TokenError::Signature) }
}

/// What the claims must say besides the signature.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Seconds since the epoch.
    pub now: i64,
}

/// Checks `iss`, `aud` (and `azp` with several audiences), `exp`, `iat`, `nonce` and that there is
/// a `sub` (OpenID Connect Core 1.0, 3.1.3.7).
pub fn check_claims(claims: &serde_json::Map<String, Value>, want: &Expected<'_>) -> Result<(), TokenError> {
    let iss = claims.get("iss").and_then(Value::as_str).ok_or(TokenError::MissingClaim("iss"))?;
    if iss != want.issuer {
        return Err(TokenError::Issuer { expected: want.issuer.to_string(), found: iss.chars().take(200).collect() });
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err(TokenError::MissingClaim("aud")),
    };
    let shown = || serde_json::to_string(&audiences).unwrap_or_default().chars().take(200).collect::<String>();
    if !audiences.contains(&want.client_id) {
        return Err(TokenError::Audience(shown()));
    }
    if audiences.len() > 1 && claims.get("azp").and_then(Value::as_str) != Some(want.client_id) {
        return Err(TokenError::Audience(format!("{} without `azp` naming this client", shown())));
    }
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or(TokenError::MissingClaim("exp"))?;
    if exp + LEEWAY_SECS <= want.now {
        return Err(TokenError::Expired);
    }
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or(TokenError::MissingClaim("iat"))?;
    if iat > want.now + LEEWAY_SECS {
        return Err(TokenError::IssuedInFuture);
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).ok_or(TokenError::MissingClaim("nonce"))?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(nonce.as_bytes(), want.nonce.as_bytes())) {
        return Err(TokenError::Nonce);
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(()),
        _ => Err(TokenError::MissingClaim("sub")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
    use serde_json::json;

    use super::*;

    /// The test-only RSA key the end-to-end provider signs with.
    const RSA_KEY: &[u8] = include_bytes!("../../../tests/data/oidc_test_rsa_key.pk8");

    fn enc(v: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    fn rsa() -> (RsaKeyPair, Jwks) {
        let key = RsaKeyPair::from_pkcs8(RSA_KEY).unwrap();
        let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public());
        let (n, e) = (enc(&public.n), enc(&public.e));
        let jwks = serde_json::from_value(json!({"keys": [{"kty": "RSA", "kid": "r1", "use": "sig", "n": n, "e": e}]}));
        (key, jwks.unwrap())
    }

    fn rs256(key: &RsaKeyPair, header: &Value, claims: &Value) -> String {
        let signed = format!("{}.{}", enc(header.to_string().as_bytes()), enc(claims.to_string().as_bytes()));
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signed.as_bytes(), &mut sig).unwrap();
        format!("{signed}.{}", enc(&sig))
    }

    fn claims(now: i64) -> Value {
        json!({"iss": "https://idp.example", "aud": "sluice", "sub": "u1", "exp": now + 300, "iat": now, "nonce": "n1"})
    }

    fn expected(now: i64) -> Expected<'static> {
        Expected { issuer: "https://idp.example", client_id: "sluice", nonce: "n1", now }
    }

    #[test]
    fn an_rs256_token_verifies_and_a_changed_one_does_not() {
        let (key, jwks) = rsa();
        let now = 1_800_000_000;
        let token = rs256(&key, &json!({"alg": "RS256", "kid": "r1"}), &claims(now));
        let t = parse(&token).unwrap();
        check_signature(&t, &jwks).unwrap();
        check_claims(&t.claims, &expected(now)).unwrap();
        // Another payload under the same signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let mut other = claims(now);
        other["sub"] = json!("admin");
        parts[1] = enc(other.to_string().as_bytes());
        assert_eq!(check_signature(&parse(&parts.join(".")).unwrap(), &jwks), Err(TokenError::Signature));
        // An unknown kid.
        let token = rs256(&key, &json!({"alg": "RS256", "kid": "r2"}), &claims(now));
        assert_eq!(check_signature(&parse(&token).unwrap(), &jwks), Err(TokenError::UnknownKey(Some("r2".into()))));
    }

    #[test]
    fn an_es256_token_verifies() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let point = key.public_key().as_ref();
        let jwks: Jwks = serde_json::from_value(json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "e1",
            "x": enc(&point[1..33]), "y": enc(&point[33..65])}]}))
        .unwrap();
        let now = 1_800_000_000;
        let header = json!({"alg": "ES256", "kid": "e1"});
        let signed = format!("{}.{}", enc(header.to_string().as_bytes()), enc(claims(now).to_string().as_bytes()));
        let sig = key.sign(&rng, signed.as_bytes()).unwrap();
        let t = parse(&format!("{signed}.{}", enc(sig.as_ref()))).unwrap();
        check_signature(&t, &jwks).unwrap();
        let bad = parse(&format!("{signed}.{}", enc(&[0u8; 64]))).unwrap();
        assert_eq!(check_signature(&bad, &jwks), Err(TokenError::Signature));
    }

    #[test]
    fn none_and_hmac_are_refused_and_claims_are_checked() {
        let unsigned = format!("{}.{}.", enc(br#"{"alg":"none"}"#), enc(claims(0).to_string().as_bytes()));
        assert_eq!(parse(&unsigned).unwrap_err(), TokenError::Algorithm("none".into()));
        let hs = format!("{}.{}.c2ln", enc(br#"{"alg":"HS256"}"#), enc(b"{}"));
        assert_eq!(parse(&hs).unwrap_err(), TokenError::Algorithm("HS256".into()));
        assert!(matches!(parse("a.b").unwrap_err(), TokenError::Malformed(_)));
        let now = 1_800_000_000;
        let check = |change: &dyn Fn(&mut Value)| {
            let mut c = claims(now);
            change(&mut c);
            check_claims(c.as_object().unwrap(), &expected(now))
        };
        assert_eq!(check(&|_| {}), Ok(()));
        assert!(matches!(check(&|c| c["iss"] = json!("https://evil.example")), Err(TokenError::Issuer { .. })));
        assert!(matches!(check(&|c| c["aud"] = json!("other")), Err(TokenError::Audience(_))));
        assert!(matches!(check(&|c| c["aud"] = json!(["sluice", "other"])), Err(TokenError::Audience(_))));
        assert_eq!(
            check(&|c| {
                c["aud"] = json!(["sluice", "other"]);
                c["azp"] = json!("sluice");
            }),
            Ok(())
        );
        assert_eq!(check(&|c| c["exp"] = json!(now - LEEWAY_SECS - 1)), Err(TokenError::Expired));
        assert_eq!(check(&|c| c["exp"] = json!(now - 10)), Ok(()), "within the leeway");
        assert_eq!(check(&|c| c["iat"] = json!(now + 3600)), Err(TokenError::IssuedInFuture));
        assert_eq!(check(&|c| c["nonce"] = json!("n2")), Err(TokenError::Nonce));
        assert_eq!(
            check(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
            Err(TokenError::MissingClaim("sub"))
        );
    }
}
