//! Phone numbers in E.164 (`+8613800138000`), the only form stored or compared, so that
//! `+86 138-0013-8000`, `8613800138000` and `13800138000` with stateCode 86 are one number
//! and the same digits under another country code are not.

use std::fmt;

/// Serialised as its E.164 text; read back only through `parse`.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(into = "String")]
pub struct Phone(String);

impl Phone {
    /// `state_code` is DingTalk's country calling code ("86"); China when absent.
    /// Masked (`155****3240`), empty or implausible numbers give `None`: they match nobody.
    pub fn parse(raw: &str, state_code: Option<&str>) -> Option<Phone> {
        let raw = raw.trim();
        let international = raw.starts_with('+') || raw.starts_with("00");
        if raw
            .chars()
            .any(|c| !(c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.')))
        {
            return None;
        }
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let e164_digits = if international {
            digits
                .strip_prefix("00")
                .map(str::to_owned)
                .unwrap_or(digits)
        } else {
            let country = state_code
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .unwrap_or("86");
            let country = country.trim_start_matches('+');
            if country.is_empty() || !country.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let national = if country == "86" && digits.len() == 13 && digits.starts_with("86") {
                digits[2..].to_owned()
            } else {
                digits
                    .strip_prefix('0')
                    .map(str::to_owned)
                    .unwrap_or(digits)
            };
            format!("{country}{national}")
        };
        if !(8..=15).contains(&e164_digits.len()) || e164_digits.starts_with('0') {
            return None;
        }
        Some(Phone(format!("+{e164_digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with its middle hidden (`+86138****8000`), for pages that must name it
    /// without giving it away.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        let keep_end = 4.min(chars.len());
        let keep_start = 6.min(chars.len() - keep_end);
        let hidden = chars.len() - keep_start - keep_end;
        let start: String = chars[..keep_start].iter().collect();
        let end: String = chars[chars.len() - keep_end..].iter().collect();
        format!("{start}{}{end}", "*".repeat(hidden))
    }

    /// The number as people in its country write it: Chinese mobiles without +86.
    pub fn local_form(&self) -> &str {
        self.0.strip_prefix("+86").unwrap_or(&self.0[1..])
    }
}

impl From<Phone> for String {
    fn from(phone: Phone) -> String {
        phone.0
    }
}

impl<'de> serde::Deserialize<'de> for Phone {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Phone::parse(&text, None)
            .ok_or_else(|| serde::de::Error::custom("not an E.164 phone number"))
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Phone;

    #[test]
    fn formats_of_one_number_are_equal() {
        let plain = Phone::parse("13800138000", Some("86")).unwrap();
        assert_eq!(plain.as_str(), "+8613800138000");
        assert_eq!(Phone::parse("+86 138-0013-8000", None), Some(plain.clone()));
        assert_eq!(
            Phone::parse("8613800138000", Some("86")),
            Some(plain.clone())
        );
        assert_eq!(Phone::parse("13800138000", None), Some(plain));
    }

    #[test]
    fn another_country_code_is_another_number() {
        assert_eq!(
            Phone::parse("13800138000", Some("1")).unwrap().as_str(),
            "+113800138000"
        );
    }

    #[test]
    fn empty_and_masked_numbers_match_nobody() {
        assert_eq!(Phone::parse("", Some("86")), None);
        assert_eq!(Phone::parse("155****3240", Some("86")), None);
        assert_eq!(Phone::parse("12", None), None);
    }
}
