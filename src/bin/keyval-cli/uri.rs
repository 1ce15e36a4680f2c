//! `-u redis://user:password@host:port/db`, read as redis-cli reads it.
//!
//! Every part is optional: `redis://` alone changes nothing, `redis://:pw@` sets only the
//! password, `redis://host` only the host. User and password are percent-decoded.

/// What a URI sets; `None` where it says nothing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UriParts {
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub db: Option<i64>,
}

/// Parses `uri`; the error is the message to print.
pub fn parse(uri: &str) -> Result<UriParts, String> {
    let scheme_len = "redis://".len();
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("rediss://") {
        return Err("rediss:// is not supported: keyval-cli has no TLS".into());
    }
    if !lower.starts_with("redis://") {
        return Err("Invalid URI scheme".into());
    }
    let mut rest = &uri[scheme_len..];
    let mut parts = UriParts::default();
    if let Some(at) = rest.find('@') {
        let userinfo = &rest[..at];
        let password = match userinfo.split_once(':') {
            Some((user, password)) => {
                // `redis://:password@host`, the usual form, means the default user.
                if !user.is_empty() {
                    parts.user = Some(percent_decode(user)?);
                }
                password
            }
            None => userinfo,
        };
        parts.password = Some(percent_decode(password)?);
        rest = &rest[at + 1..];
    }
    let (address, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], Some(&rest[slash + 1..])),
        None => (rest, None),
    };
    if !address.is_empty() {
        let host = match address.split_once(':') {
            Some((host, port)) => {
                parts.port = Some(
                    port.parse()
                        .map_err(|_| format!("Invalid port in URI: {port:?}"))?,
                );
                host
            }
            None => address,
        };
        parts.host = Some(host.to_string());
    }
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        parts.db = Some(
            db.parse()
                .map_err(|_| format!("Invalid database number in URI: {db:?}"))?,
        );
    }
    Ok(parts)
}

/// `%41` -> `A`; a `%` not followed by two hex digits is an error.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("Invalid percent-encoding in URI: {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("URI credentials are not UTF-8: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_uri() {
        assert_eq!(
            parse("redis://me:p%40ss@example.com:7000/3").unwrap(),
            UriParts {
                user: Some("me".into()),
                password: Some("p@ss".into()),
                host: Some("example.com".into()),
                port: Some(7000),
                db: Some(3),
            }
        );
    }

    #[test]
    fn partial_uris() {
        assert_eq!(parse("redis://").unwrap(), UriParts::default());
        assert_eq!(
            parse("REDIS://:secret@").unwrap(),
            UriParts {
                password: Some("secret".into()),
                ..UriParts::default()
            }
        );
        assert_eq!(
            parse("redis://h/2").unwrap(),
            UriParts {
                host: Some("h".into()),
                db: Some(2),
                ..UriParts::default()
            }
        );
        assert_eq!(
            parse("redis:///5").unwrap(),
            UriParts {
                db: Some(5),
                ..UriParts::default()
            }
        );
    }

    #[test]
    fn bad_uris_are_clear_errors() {
        assert_eq!(parse("http://x").unwrap_err(), "Invalid URI scheme");
        assert!(parse("rediss://x").unwrap_err().contains("TLS"));
        assert!(parse("redis://h:port").is_err());
        assert!(parse("redis://h/db").is_err());
        assert!(parse("redis://:%zz@h").is_err());
    }
}
