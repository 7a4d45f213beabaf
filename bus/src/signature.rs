//! Signed pushes: ed25519 over exactly module, path, source sha256, version and push id
//! (`RuleUpdate::signing_payload`). Keys and signatures travel as lower-case hex.

use ed25519_dalek::VerifyingKey;
use ed25519_dalek::{Signature, Signer as _};
pub use ed25519_dalek::{SigningKey, VerifyingKey as PublicKey};

use crate::message::RuleUpdate;

/// Why a signed-push check refused an update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the update is not signed")]
    Unsigned,
    #[error("signed by an unknown key {0}")]
    UnknownKey(String),
    #[error("the signature does not match the update (tampered or re-signed)")]
    Invalid,
    #[error("the update has no sha256 to sign")]
    NoChecksum,
    #[error("bad key or signature encoding: {0}")]
    Encoding(String),
}

/// A trusted public key, from hex.
pub fn public_key(hex: &str) -> Result<VerifyingKey, SignatureError> {
    let bytes: [u8; 32] = decode(hex)?.try_into().map_err(|_| {
        SignatureError::Encoding("a public key is 32 bytes (64 hex digits)".to_owned())
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| SignatureError::Encoding(e.to_string()))
}

/// A signing key, from the hex of its 32-byte secret.
pub fn secret_key(hex: &str) -> Result<SigningKey, SignatureError> {
    let bytes: [u8; 32] = decode(hex.trim())?.try_into().map_err(|_| {
        SignatureError::Encoding("a secret key is 32 bytes (64 hex digits)".to_owned())
    })?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// A new key pair from 32 bytes of the system's randomness: (secret hex, public hex).
pub fn generate() -> std::io::Result<(String, String)> {
    let mut secret = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut secret)?;
    let key = SigningKey::from_bytes(&secret);
    Ok((encode(&secret), encode(&key.verifying_key().to_bytes())))
}

/// Signs `update` in place (sets `key` and `signature`).
pub fn sign(update: &mut RuleUpdate, key: &SigningKey) -> Result<(), SignatureError> {
    let payload = update.signing_payload().ok_or(SignatureError::NoChecksum)?;
    update.signature = Some(encode(&key.sign(&payload).to_bytes()));
    update.key = Some(encode(&key.verifying_key().to_bytes()));
    Ok(())
}

/// Checks that `update` is signed by one of `trusted` over exactly its signed fields.
pub fn verify(update: &RuleUpdate, trusted: &[VerifyingKey]) -> Result<(), SignatureError> {
    let (Some(key), Some(signature)) = (&update.key, &update.signature) else {
        return Err(SignatureError::Unsigned);
    };
    let key = public_key(key)?;
    if !trusted.contains(&key) {
        return Err(SignatureError::UnknownKey(
            encode(&key.to_bytes())[..16].to_owned(),
        ));
    }
    let signature = Signature::from_slice(&decode(signature)?)
        .map_err(|e| SignatureError::Encoding(e.to_string()))?;
    let payload = update.signing_payload().ok_or(SignatureError::NoChecksum)?;
    key.verify_strict(&payload, &signature)
        .map_err(|_| SignatureError::Invalid)
}

fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode(hex: &str) -> Result<Vec<u8>, SignatureError> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Encoding("not hex".to_owned()));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|e| SignatureError::Encoding(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update() -> RuleUpdate {
        RuleUpdate {
            module: "shop.a".to_owned(),
            path: "shop/a.lua".to_owned(),
            source: Some("return {}".to_owned()),
            sha256: Some("ab".repeat(32)),
            version: 3,
            push_id: "p-1".to_owned(),
            ..RuleUpdate::default()
        }
    }

    #[test]
    fn only_exact_updates_signed_by_trusted_keys_pass() {
        let (secret, public) = generate().expect("urandom");
        let key = secret_key(&secret).expect("secret");
        let trusted = [public_key(&public).expect("public")];
        let mut u = update();
        assert_eq!(verify(&u, &trusted), Err(SignatureError::Unsigned));
        sign(&mut u, &key).expect("sign");
        assert_eq!(verify(&u, &trusted), Ok(()));

        for tamper in [
            |u: &mut RuleUpdate| u.version = 4,
            |u: &mut RuleUpdate| u.module = "shop.b".to_owned(),
            |u: &mut RuleUpdate| u.path = "shop/b.lua".to_owned(),
            |u: &mut RuleUpdate| u.sha256 = Some("cd".repeat(32)),
            |u: &mut RuleUpdate| u.push_id = "p-2".to_owned(),
        ] {
            let mut t = u.clone();
            tamper(&mut t);
            assert_eq!(verify(&t, &trusted), Err(SignatureError::Invalid));
        }
        let (_, other) = generate().expect("urandom");
        let stranger = [public_key(&other).expect("public")];
        assert!(matches!(
            verify(&u, &stranger),
            Err(SignatureError::UnknownKey(_))
        ));
    }
}
