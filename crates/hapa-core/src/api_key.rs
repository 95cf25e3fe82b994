//! The shape of a HAPA API key: `hapa_` + 22 base62 characters (128 random bits) + a
//! 6-character base62 CRC32 of those 22, like GitHub's tokens. The checksum lets the editor
//! catch a mistyped key as it is entered, and the server reject one before any lookup.
//! Making a key needs randomness, which the caller brings (this crate does no IO).

/// Every key starts with this.
pub const PREFIX: &str = "hapa_";
const BODY_LEN: usize = 22;
const CHECKSUM_LEN: usize = 6;
/// Length of a whole key.
pub const KEY_LEN: usize = PREFIX.len() + BODY_LEN + CHECKSUM_LEN;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a string is not a well-formed key (a well-formed one may still be unknown or revoked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedKey {
    /// Wrong prefix, length or characters.
    Shape,
    /// Well-shaped, but the checksum does not match: a typo or a forgery.
    Checksum,
}

impl std::fmt::Display for MalformedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Shape => "a HAPA API key is `hapa_` followed by 28 letters and digits",
            Self::Checksum => "this is not a valid HAPA API key (its checksum does not match); check for a typo",
        })
    }
}

impl std::error::Error for MalformedKey {}

/// The key made from 16 random bytes.
pub fn from_random(random: [u8; 16]) -> String {
    let body = base62(u128::from_le_bytes(random), BODY_LEN);
    let checksum = checksum(&body);
    format!("{PREFIX}{body}{checksum}")
}

/// Checks prefix, shape and checksum; no lookup.
pub fn check(key: &str) -> Result<(), MalformedKey> {
    let Some(rest) = key.strip_prefix(PREFIX) else {
        return Err(MalformedKey::Shape);
    };
    if rest.len() != BODY_LEN + CHECKSUM_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(MalformedKey::Shape);
    }
    let (body, sum) = rest.split_at(BODY_LEN);
    if checksum(body) != sum {
        return Err(MalformedKey::Checksum);
    }
    Ok(())
}

fn checksum(body: &str) -> String {
    base62(u128::from(crc32fast::hash(body.as_bytes())), CHECKSUM_LEN)
}

/// `value` in base62, left-padded with '0' to `width` digits.
fn base62(mut value: u128, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_randomness_pass_their_own_check_and_differ() {
        let a = from_random([1; 16]);
        let b = from_random([2; 16]);
        assert_eq!(a.len(), KEY_LEN);
        assert_ne!(a, b);
        assert_eq!(check(&a), Ok(()));
        assert_eq!(check(&from_random([0xff; 16])), Ok(()));
        assert!(from_random([0; 16]).starts_with(&format!("hapa_{}", "0".repeat(22))));
    }

    #[test]
    fn typos_and_forgeries_fail_the_checksum() {
        let key = from_random([7; 16]);
        let mut typo = key.clone().into_bytes();
        let i = PREFIX.len() + 3;
        typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
        assert_eq!(check(std::str::from_utf8(&typo).unwrap()), Err(MalformedKey::Checksum));
        assert_eq!(check(&format!("hapa_{}", "A".repeat(28))), Err(MalformedKey::Checksum));
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        let key = from_random([9; 16]);
        for bad in [
            String::new(),
            key[..KEY_LEN - 1].to_owned(),
            format!("{key}\n"),
            format!(" {key}"),
            key.replacen("hapa_", "HAPA_", 1),
            format!("hapa_{}", "é".repeat(14)),
            "x".repeat(10_000),
        ] {
            assert_eq!(check(&bad), Err(MalformedKey::Shape), "{bad:?}");
        }
    }
}
