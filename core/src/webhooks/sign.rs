//! Standard Webhooks signatures, with secrets derived from the installation's keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};

use crate::keys::{Keys, Purpose};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The secret of an endpoint's generation: a MAC of its id and generation with the key
/// `key_id` (32 bytes), `None` when this installation does not hold that key.
pub(crate) fn secret(
    keys: &Keys,
    key_id: &str,
    endpoint: &str,
    generation: u32,
) -> Option<[u8; 32]> {
    keys.tag(
        key_id,
        Purpose::WebhookSecret,
        format!("{endpoint}/{generation}").as_bytes(),
    )
}

/// A secret as receivers configure it: `whsec_` and the base64 of its bytes.
pub fn secret_text(secret: &[u8]) -> String {
    format!("whsec_{}", B64.encode(secret))
}

/// The signature of one attempt, `v1,<base64>`: HMAC-SHA256 with the secret over
/// `{id}.{timestamp}.{body}`.
pub fn signature(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The example of the Standard Webhooks specification's reference implementations.
        let secret = B64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_differ_per_endpoint_and_generation() {
        let keys = Keys::ephemeral();
        let id = keys.current_id().to_string();
        let a = secret(&keys, &id, "A", 1).unwrap();
        assert_ne!(a, secret(&keys, &id, "A", 2).unwrap());
        assert_ne!(a, secret(&keys, &id, "B", 1).unwrap());
        assert_eq!(a, secret(&keys, &id, "A", 1).unwrap());
        assert!(secret(&keys, "unknown", "A", 1).is_none());
        assert!(secret_text(&a).starts_with("whsec_"));
    }
}
