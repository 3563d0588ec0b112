//! The parameters of an OpenID request as sent: in the query of a GET, or the
//! form-encoded body of a POST (OpenID Connect Core §3.1.2.1, RP-Initiated Logout §2).
//! A parameter given twice is a malformed request (RFC 6749 §3.1); it is dropped from the
//! parameters and named, so the caller can still tell the client where the answer goes.

use actix_web::HttpRequest;
use actix_web::http::Method;
use serde::de::DeserializeOwned;

/// The parameters, and the name of each one that was repeated (left out of them).
pub struct Params<T> {
    pub values: T,
    pub repeated: Vec<String>,
}

/// Why no parameters could be read at all.
#[derive(Debug, thiserror::Error)]
#[error("the request's parameters are malformed")]
pub struct Malformed;

/// Reads `T` from the query (GET) or the body (POST).
pub fn read<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<Params<T>, Malformed> {
    let raw = if req.method() == Method::POST {
        body
    } else {
        req.query_string().as_bytes()
    };
    parse(raw)
}

pub fn parse<T: DeserializeOwned>(raw: &[u8]) -> Result<Params<T>, Malformed> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw).into_owned().collect();
    let mut seen = std::collections::HashSet::new();
    let mut repeated: Vec<String> = Vec::new();
    for (name, _) in &pairs {
        if !seen.insert(name.as_str()) && !repeated.contains(name) {
            repeated.push(name.clone());
        }
    }
    let unique: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(name, _)| !repeated.contains(name))
        .collect();
    let encoded = serde_urlencoded::to_string(&unique).map_err(|_| Malformed)?;
    let values = serde_urlencoded::from_str(&encoded).map_err(|_| Malformed)?;
    Ok(Params { values, repeated })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[derive(serde::Deserialize)]
    struct Two {
        a: Option<String>,
        b: Option<String>,
    }

    #[test]
    fn a_repeated_parameter_is_named_and_left_out() {
        let params = parse::<Two>(b"a=1&b=2&a=3").unwrap();
        assert_eq!(params.repeated, ["a"]);
        assert_eq!(params.values.a, None);
        assert_eq!(params.values.b.as_deref(), Some("2"));
    }
}
