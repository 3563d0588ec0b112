//! Reading one value: a URL, a flag, a number within its declared range.

use url::Url;

use super::declared::Setting;
use super::{ConfigError, config_error};

pub(crate) fn parse_http_url(var: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| {
        config_error(
            var,
            format!("`{raw}` is not a URL ({e})"),
            "Use an absolute URL such as https://login.example.com.",
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(config_error(
            var,
            format!("`{raw}` is not an http(s) URL"),
            "Use an absolute URL starting with https:// (or http:// on a developer machine).",
        ));
    }
    Ok(url)
}

/// A `true`/`false` setting with a declared default.
pub(crate) fn flag(
    get: &impl Fn(&str) -> Option<String>,
    setting: &'static Setting,
) -> Result<bool, ConfigError> {
    parse_bool(setting.name, get(setting.name), false)
}

/// `true`/`1` or `false`/`0`; unset (and without a declared default) gives `default`.
pub(crate) fn parse_bool(
    var: &'static str,
    raw: Option<String>,
    default: bool,
) -> Result<bool, ConfigError> {
    match raw.as_deref() {
        None => Ok(default),
        Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(config_error(
            var,
            format!("unknown value `{other}`"),
            "Use true or false.",
        )),
    }
}

/// A number of milliseconds within the setting's range.
pub(super) fn millis(
    get: &impl Fn(&str) -> Option<String>,
    setting: &'static Setting,
) -> Result<std::time::Duration, ConfigError> {
    let millis = number(get, setting)?;
    Ok(std::time::Duration::from_millis(millis as u64))
}

/// Two connections per core: the benchmark on two cores answered faster with 4 than with
/// 8 or 10, on both databases (fewer threads waking each other for a connection, and on
/// SQLite fewer page caches to refill after each write; docs/performance.md).
pub(super) fn default_pool_size() -> i64 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as i64;
    (2 * cores).clamp(4, 32)
}

/// A number within the setting's declared range, its declared default when unset.
pub(crate) fn number(
    get: &impl Fn(&str) -> Option<String>,
    setting: &'static Setting,
) -> Result<i64, ConfigError> {
    optional_number(get, setting)?
        .ok_or_else(|| config_error(setting.name, "has no value", "Set it (see .env.example)."))
}

/// A number within the setting's declared range; `None` when unset and without a default.
pub(crate) fn optional_number(
    get: &impl Fn(&str) -> Option<String>,
    setting: &'static Setting,
) -> Result<Option<i64>, ConfigError> {
    let Some(raw) = get(setting.name) else {
        return Ok(None);
    };
    let (min, max) = setting.range.unwrap_or((i64::MIN, i64::MAX));
    match raw.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(config_error(
            setting.name,
            format!("`{raw}` is not a number from {min} to {max}"),
            match setting.default {
                Some(default) => format!("Unset it to use {default}."),
                None => "Unset it to use the default.".to_owned(),
            },
        )),
    }
}

/// A span of time written with its unit (`90s`, `30m`, `6h`, `1d`), from `min` to `max`.
pub(crate) fn duration(
    get: &impl Fn(&str) -> Option<String>,
    setting: &'static Setting,
    (min, max): (std::time::Duration, std::time::Duration),
) -> Result<std::time::Duration, ConfigError> {
    let raw = get(setting.name)
        .or_else(|| setting.default.map(str::to_owned))
        .unwrap_or_default();
    let seconds = raw
        .trim()
        .char_indices()
        .last()
        .and_then(|(at, unit)| {
            let factor = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => return None,
            };
            raw.trim()[..at].parse::<u64>().ok()?.checked_mul(factor)
        })
        .map(std::time::Duration::from_secs);
    match seconds {
        Some(span) if (min..=max).contains(&span) => Ok(span),
        _ => Err(config_error(
            setting.name,
            format!(
                "`{raw}` is not a time from {}s to {}s with its unit",
                min.as_secs(),
                max.as_secs()
            ),
            format!(
                "Write a number and s, m, h or d, such as {}.",
                setting.default.unwrap_or("30m")
            ),
        )),
    }
}
