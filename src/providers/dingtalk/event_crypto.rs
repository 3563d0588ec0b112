//! DingTalk's event encryption (the official helper `DingCallbackCrypto`): the body of an
//! HTTP event is `{"encrypt": base64}`, signed in the query string with
//! `msg_signature = sha1(sort(token, timestamp, nonce, encrypt))` in lowercase hex; the
//! plaintext is `16 random bytes || u32 big-endian length || message || receiver id`,
//! padded PKCS#7-style to 32 bytes and encrypted with AES-256-CBC under the console's
//! 43-character `aes_key` (base64 without its `=`), the IV its first 16 bytes. Answers go
//! back the same way. Shapes and the test vector: `docs/dingtalk-directory.md` section B.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

use crate::config::Secret;
use crate::crypto::constant_time_eq;

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// The padding's block: 32 bytes, not AES's 16 (the helper's `PKCS7Padding`).
const PAD_BLOCK: usize = 32;

/// Why an event was not accepted (never which byte was wrong: that is logged).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventCryptoError {
    #[error("the signature does not match")]
    BadSignature,
    #[error("the ciphertext is not base64 of whole AES blocks")]
    BadCiphertext,
    #[error("the padding or the length inside the plaintext is wrong")]
    BadPlaintext,
    #[error("the event is addressed to another receiver")]
    WrongReceiver,
}

/// The console's token and key, and who events must be addressed to: the app key for the
/// console's event subscription, the corpId for the older callback registration.
pub struct EventCipher {
    token: Secret,
    key: [u8; 32],
    receiver: String,
}

impl EventCipher {
    /// `aes_key`: the console's 43 characters; `None` when they are not that.
    pub fn new(token: Secret, aes_key: &str, receiver: String) -> Option<EventCipher> {
        if aes_key.len() != 43 {
            return None;
        }
        // The console's keys need not end in zero bits (the official example's does not);
        // Java's and Python's decoders ignore them, so must we.
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let key = lenient.decode(format!("{aes_key}=")).ok()?;
        Some(EventCipher {
            token,
            key: key.try_into().ok()?,
            receiver,
        })
    }

    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        let mut parts = [self.token.expose(), timestamp, nonce, encrypt];
        parts.sort_unstable();
        let digest = Sha1::digest(parts.concat().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The message of a signed event, once the signature (compared in constant time), the
    /// padding, the length and the receiver are right.
    pub fn open(
        &self,
        signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<String, EventCryptoError> {
        let expected = self.signature(timestamp, nonce, encrypt);
        if !constant_time_eq(&expected, &signature.to_ascii_lowercase()) {
            return Err(EventCryptoError::BadSignature);
        }
        let mut bytes = STANDARD
            .decode(encrypt)
            .map_err(|_| EventCryptoError::BadCiphertext)?;
        if bytes.is_empty() || bytes.len() % 16 != 0 {
            return Err(EventCryptoError::BadCiphertext);
        }
        let plain = Decryptor::new(&self.key.into(), self.key[..16].into())
            .decrypt_padded_mut::<NoPadding>(&mut bytes)
            .map_err(|_| EventCryptoError::BadCiphertext)?;
        let pad = usize::from(*plain.last().ok_or(EventCryptoError::BadPlaintext)?);
        if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
            return Err(EventCryptoError::BadPlaintext);
        }
        let plain = &plain[..plain.len() - pad];
        if plain.len() < 20 {
            return Err(EventCryptoError::BadPlaintext);
        }
        let length = u32::from_be_bytes([plain[16], plain[17], plain[18], plain[19]]) as usize;
        let rest = &plain[20..];
        if length > rest.len() {
            return Err(EventCryptoError::BadPlaintext);
        }
        let (message, receiver) = rest.split_at(length);
        if !constant_time_eq(std::str::from_utf8(receiver).unwrap_or(""), &self.receiver) {
            return Err(EventCryptoError::WrongReceiver);
        }
        String::from_utf8(message.to_vec()).map_err(|_| EventCryptoError::BadPlaintext)
    }

    /// `message` encrypted for our receiver, with 16 random bytes in front.
    pub fn seal(&self, message: &str) -> String {
        let random = crate::crypto::random_token(16);
        let mut plain = Vec::with_capacity(message.len() + 64 + PAD_BLOCK);
        plain.extend_from_slice(&random.as_bytes()[..16]);
        plain.extend_from_slice(
            &u32::try_from(message.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(self.receiver.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let length = plain.len();
        let sealed = Encryptor::new(&self.key.into(), self.key[..16].into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, length)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        STANDARD.encode(sealed)
    }

    /// The answer DingTalk waits for: `success`, sealed and signed, the timestamp in
    /// milliseconds as the official Java helper sends it.
    pub fn success_reply(&self) -> serde_json::Value {
        let timestamp = chrono::Utc::now().timestamp_millis().to_string();
        let nonce = crate::crypto::random_token(16)
            .chars()
            .take(16)
            .collect::<String>();
        let encrypt = self.seal("success");
        serde_json::json!({
            "msg_signature": self.signature(&timestamp, &nonce, &encrypt),
            "timeStamp": timestamp,
            "nonce": nonce,
            "encrypt": encrypt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The official helper's example (DingCallbackCrypto3.py `__main__`), checked by an
    /// independent implementation to decrypt to `check_url` for `ding6ccabc44d2c8d38b`.
    const TOKEN: &str = "mryue";
    const AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";
    const RECEIVER: &str = "ding6ccabc44d2c8d38b";
    const SIGNATURE: &str = "03044561471240d4a14bb09372dfcfd4fd0e40cb";
    const TIMESTAMP: &str = "1608001896814";
    const NONCE: &str = "WL4PK6yA";
    const ENCRYPT: &str = "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3";

    fn cipher(receiver: &str) -> EventCipher {
        EventCipher::new(Secret::new(TOKEN.to_owned()), AES_KEY, receiver.into()).unwrap()
    }

    #[test]
    fn the_official_vector_opens() {
        let message = cipher(RECEIVER)
            .open(SIGNATURE, TIMESTAMP, NONCE, ENCRYPT)
            .unwrap();
        assert_eq!(message, r#"{"EventType":"check_url"}"#);
    }

    #[test]
    fn a_wrong_signature_or_receiver_is_refused() {
        let mut forged = SIGNATURE.to_owned();
        forged.replace_range(..1, "1");
        assert_eq!(
            cipher(RECEIVER).open(&forged, TIMESTAMP, NONCE, ENCRYPT),
            Err(EventCryptoError::BadSignature)
        );
        assert_eq!(
            cipher(RECEIVER).open(SIGNATURE, "1608001896815", NONCE, ENCRYPT),
            Err(EventCryptoError::BadSignature)
        );
        assert_eq!(
            cipher("dingsomeoneelse").open(SIGNATURE, TIMESTAMP, NONCE, ENCRYPT),
            Err(EventCryptoError::WrongReceiver)
        );
    }

    #[test]
    fn what_we_seal_opens() {
        let ours = cipher(RECEIVER);
        let reply = ours.success_reply();
        let opened = ours.open(
            reply["msg_signature"].as_str().unwrap(),
            reply["timeStamp"].as_str().unwrap(),
            reply["nonce"].as_str().unwrap(),
            reply["encrypt"].as_str().unwrap(),
        );
        assert_eq!(opened.as_deref(), Ok("success"));
        assert!(
            EventCipher::new(Secret::new(TOKEN.to_owned()), "short", RECEIVER.into()).is_none()
        );
    }
}
