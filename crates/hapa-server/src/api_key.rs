//! Server-side handling of API keys: making them (with the OS's randomness) and the digest
//! that is stored instead of the key. Their shape and checksum are `hapa_core::api_key`'s,
//! shared with the editor, which checks a key as it is typed.

use sha2::{Digest, Sha256};

pub use hapa_core::api_key::check;

/// A new random key.
pub fn generate() -> anyhow::Result<String> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(hapa_core::api_key::from_random(random))
}

/// What is stored instead of the key: its SHA-256, hex-encoded.
pub fn digest(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The first characters of a key, safe to show in listings and logs.
pub fn hint(key: &str) -> String {
    key.chars().take(hapa_core::api_key::PREFIX.len() + 4).collect::<String>() + "…"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_and_differ() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_ne!(a, b);
        assert_eq!(check(&a), Ok(()));
        assert_eq!(hint(&a), format!("{}…", &a[..9]));
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
