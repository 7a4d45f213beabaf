//! Signed pushes: ed25519 over everything that decides what runs where — the fleet (topology
//! prefix), module, path, source sha256, version, push id and targets
//! (`RuleUpdate::signing_payload`), so a signed push cannot be re-aimed (targets edited out)
//! or replayed into another fleet that trusts the same key. Keys and signatures travel as
//! lower-case hex.

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

/// A trusted-key list as `--trusted-keys` / `TRUSTED_KEYS` give it: public keys in hex,
/// comma-separated. Every bad entry is reported; a list that names no key at all (`""`,
/// `" , "`) is an error too, never a silent "trust nothing, verify nothing".
pub fn public_keys(list: &str) -> Result<Vec<VerifyingKey>, Vec<String>> {
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    for hex in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        match public_key(hex) {
            Ok(key) => keys.push(key),
            Err(e) => errors.push(format!("`{hex}`: {e}")),
        }
    }
    if keys.is_empty() && errors.is_empty() {
        errors.push(
            "the list is empty: give at least one public key (unset it to accept unsigned pushes)"
                .to_owned(),
        );
    }
    if errors.is_empty() {
        Ok(keys)
    } else {
        Err(errors)
    }
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

/// Signs `update` in place (sets `key` and `signature`) for the fleet under prefix `fleet`.
pub fn sign(update: &mut RuleUpdate, key: &SigningKey, fleet: &str) -> Result<(), SignatureError> {
    let payload = update
        .signing_payload(fleet)
        .ok_or(SignatureError::NoChecksum)?;
    update.signature = Some(encode(&key.sign(&payload).to_bytes()));
    update.key = Some(encode(&key.verifying_key().to_bytes()));
    Ok(())
}

/// Checks that `update` is signed by one of `trusted`, for the fleet under prefix `fleet`,
/// over exactly its signed fields.
pub fn verify(
    update: &RuleUpdate,
    trusted: &[VerifyingKey],
    fleet: &str,
) -> Result<(), SignatureError> {
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
    let payload = update
        .signing_payload(fleet)
        .ok_or(SignatureError::NoChecksum)?;
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
    use crate::message::Targets;

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

    fn targets(workers: &[&str], canary: Option<f64>) -> Option<Targets> {
        Some(Targets {
            workers: workers.iter().map(|w| (*w).to_owned()).collect(),
            canary_percent: canary,
        })
    }

    #[test]
    fn only_exact_updates_signed_by_trusted_keys_for_this_fleet_pass() {
        let (secret, public) = generate().expect("urandom");
        let key = secret_key(&secret).expect("secret");
        let trusted = [public_key(&public).expect("public")];
        let mut u = update();
        u.targets = targets(&["w-1", "w-2"], Some(10.0));
        assert_eq!(
            verify(&u, &trusted, "fleet-a"),
            Err(SignatureError::Unsigned)
        );
        sign(&mut u, &key, "fleet-a").expect("sign");
        assert_eq!(verify(&u, &trusted, "fleet-a"), Ok(()));

        // Every field that decides what runs where is covered.
        let tampers: [fn(&mut RuleUpdate); 11] = [
            |u| u.version = 4,
            |u| u.module = "shop.b".to_owned(),
            |u| u.path = "shop/b.lua".to_owned(),
            |u| u.sha256 = Some("cd".repeat(32)),
            |u| u.push_id = "p-2".to_owned(),
            // A canary push re-published to the whole fleet, or re-aimed.
            |u| u.targets = None,
            |u| u.targets = targets(&[], None),
            |u| u.targets = targets(&["w-1", "w-2"], None),
            |u| u.targets = targets(&["w-1", "w-2"], Some(100.0)),
            |u| u.targets = targets(&["w-1"], Some(10.0)),
            |u| u.targets = targets(&["w-1", "w-3"], Some(10.0)),
        ];
        for (i, tamper) in tampers.iter().enumerate() {
            let mut t = u.clone();
            tamper(&mut t);
            assert_eq!(
                verify(&t, &trusted, "fleet-a"),
                Err(SignatureError::Invalid),
                "tamper #{i}"
            );
        }
        // Replayed into another fleet that trusts the same key.
        for other in ["fleet-b", "fleet-a.x", "", "fleet-"] {
            assert_eq!(
                verify(&u, &trusted, other),
                Err(SignatureError::Invalid),
                "{other:?}"
            );
        }
        let (_, other) = generate().expect("urandom");
        let stranger = [public_key(&other).expect("public")];
        assert!(matches!(
            verify(&u, &stranger, "fleet-a"),
            Err(SignatureError::UnknownKey(_))
        ));
    }

    #[test]
    fn the_payload_is_unambiguous() {
        // Moving a separator between fields changes the payload.
        let mut a = update();
        a.module = "a\nmodule 1:b".to_owned();
        let mut b = update();
        b.module = "a".to_owned();
        b.path = format!("b\npath 10:{}", a.path);
        assert_ne!(a.signing_payload("f"), b.signing_payload("f"));
        let mut c = update();
        c.targets = targets(&["w-1,w-2"], None);
        let mut d = update();
        d.targets = targets(&["w-1", "w-2"], None);
        assert_ne!(c.signing_payload("f"), d.signing_payload("f"));
        assert_ne!(
            update().signing_payload("f\n"),
            update().signing_payload("f")
        );
    }

    #[test]
    fn a_key_list_names_at_least_one_key_and_every_bad_entry_is_reported() {
        let (_, a) = generate().expect("urandom");
        let (_, b) = generate().expect("urandom");
        assert_eq!(public_keys(&format!(" {a} ,{b},")).map(|k| k.len()), Ok(2));
        for empty in ["", " ", ",", " , "] {
            let errors = public_keys(empty).expect_err(empty);
            assert!(errors[0].contains("empty"), "{empty:?}: {errors:?}");
        }
        let errors = public_keys(&format!("zz,{a},abcd")).expect_err("bad");
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
