//! The size caps of everything the bus publishes, decided here and nowhere else, and the
//! truncation (at a UTF-8 boundary, with a marker saying how much was cut) that enforces them.
//!
//! A content header (the properties and headers of a message) must fit in one AMQP frame, and
//! a frame larger than the one negotiated makes the broker close the whole connection. AMQP's
//! smallest frame is 4096 bytes, so the headers' budget fits in it whatever the URL asks for.

use std::borrow::Cow;

/// The smallest frame an AMQP 0-9-1 peer may negotiate (`frame-min-size`).
pub const AMQP_MIN_FRAME: usize = 4096;

/// The largest value of one header (an error text, a reason); longer ones are truncated.
pub const MAX_HEADER_VALUE_BYTES: usize = 1024;

/// The largest header name; longer ones are truncated (names are ours; this is a backstop).
pub const MAX_HEADER_NAME_BYTES: usize = 128;

/// The most headers one message carries; the rest are dropped.
pub const MAX_HEADERS: usize = 16;

/// Budget of a message's whole header table as encoded (names, values and 6 bytes of framing
/// each). With the other properties (content type, delivery mode, a reply address and a
/// correlation id, each at most 255 bytes) the content header stays under [`AMQP_MIN_FRAME`].
pub const MAX_HEADERS_BYTES: usize = 3072;

/// The largest body published. Larger typed messages are refused ([`crate::BusError::TooLarge`]);
/// larger raw bodies (dead letters of what came in) are truncated. RabbitMQ refuses messages
/// over its `max_message_size` (128 MiB by default).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Refuses a typed message body over [`MAX_BODY_BYTES`] (it would be garbage if cut).
pub(crate) fn check_body(body: &[u8]) -> Result<(), crate::BusError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(crate::BusError::TooLarge {
            len: body.len(),
            max: MAX_BODY_BYTES,
        });
    }
    Ok(())
}

/// Framing of one header-table entry: name length (1), value type (1), value length (4).
const HEADER_ENTRY_OVERHEAD: usize = 6;

/// `text` if it fits in `max` bytes; otherwise its longest prefix (cut at a character
/// boundary) followed by `…[truncated N bytes]`, `max` bytes at most in all.
///
/// The result never exceeds `max`: the marker's bytes come out of the cap, and when even the
/// marker does not fit, the prefix is all that is left. This is the contract for hard caps
/// (a header value that must fit in a frame). The engine's log-line cut
/// (`plain_data::truncated`) keeps `max` bytes of text and puts the marker after them
/// instead; the two differ on purpose and share no code (neither crate depends on the other).
pub fn truncate_text(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let cut = cut_point(text.as_bytes(), max);
    let mut out = String::with_capacity(max);
    out.push_str(&text[..cut]);
    let marker = marker(text.len() - cut);
    if out.len() + marker.len() <= max {
        out.push_str(&marker);
    }
    Cow::Owned(out)
}

/// Like [`truncate_text`] for a body that may not be text: cut at a UTF-8 boundary if the
/// bytes before the cut are UTF-8, at the byte otherwise.
pub fn truncate_bytes(body: &[u8], max: usize) -> Cow<'_, [u8]> {
    if body.len() <= max {
        return Cow::Borrowed(body);
    }
    let cut = cut_point(body, max);
    let mut out = Vec::with_capacity(max);
    out.extend_from_slice(&body[..cut]);
    let marker = marker(body.len() - cut);
    if out.len() + marker.len() <= max {
        out.extend_from_slice(marker.as_bytes());
    }
    Cow::Owned(out)
}

/// Headers bounded as a whole: at most [`MAX_HEADERS`], each name and value truncated to its
/// cap, and the table within [`MAX_HEADERS_BYTES`] (a value that does not fit is cut to what
/// is left of the budget; a header with no room left is dropped).
pub fn bound_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut left = MAX_HEADERS_BYTES;
    let mut out = Vec::with_capacity(headers.len().min(MAX_HEADERS));
    for (name, value) in headers.iter().take(MAX_HEADERS) {
        let name = truncate_text(name, MAX_HEADER_NAME_BYTES);
        let fixed = name.len() + HEADER_ENTRY_OVERHEAD;
        let Some(room) = left.checked_sub(fixed) else {
            break;
        };
        let value = truncate_text(value, MAX_HEADER_VALUE_BYTES.min(room));
        left = room - value.len();
        out.push((name.into_owned(), value.into_owned()));
    }
    out
}

/// Where to cut `bytes` so that the kept prefix and the marker fit in `max`: on a UTF-8
/// character boundary when the prefix is text.
fn cut_point(bytes: &[u8], max: usize) -> usize {
    // The marker for the largest possible count is at least as long as the real one.
    let room = max.saturating_sub(marker(bytes.len()).len());
    let mut cut = room.min(bytes.len());
    // Back off over at most 3 continuation bytes (10xxxxxx) to a character's first byte.
    let mut steps = 0;
    while cut > 0 && steps < 3 && bytes.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
        cut -= 1;
        steps += 1;
    }
    if bytes.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
        // Not text after all: cut at the byte.
        cut = room.min(bytes.len());
    }
    cut
}

fn marker(cut_bytes: usize) -> String {
    format!("…[truncated {cut_bytes} bytes]")
}

/// The encoded size of a header table.
#[cfg(test)]
fn headers_size(headers: &[(String, String)]) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + HEADER_ENTRY_OVERHEAD)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_as_is() {
        assert!(matches!(truncate_text("abc", 3), Cow::Borrowed("abc")));
        assert!(matches!(truncate_bytes(b"abc", 10), Cow::Borrowed(b"abc")));
    }

    #[test]
    fn long_text_is_cut_with_a_marker_within_the_cap() {
        let text = "x".repeat(20_000);
        let cut = truncate_text(&text, 1024);
        assert!(cut.len() <= 1024, "{}", cut.len());
        assert!(cut.len() > 990, "{}", cut.len());
        let kept = cut.find('…').expect("marker");
        assert!(cut.ends_with(&format!("…[truncated {} bytes]", 20_000 - kept)));
        assert!(text.starts_with(&cut[..kept]));
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        // Multi-byte characters at every offset around the cut.
        for pad in 0..4 {
            let text = format!("{}{}", "a".repeat(pad), "é€😀".repeat(500));
            for max in 40..60 {
                let cut = truncate_text(&text, max);
                assert!(cut.len() <= max);
                assert!(cut.contains("…[truncated "), "{cut}");
                let bytes = truncate_bytes(text.as_bytes(), max);
                assert!(bytes.len() <= max);
                assert!(std::str::from_utf8(&bytes).is_ok(), "{bytes:?}");
            }
        }
    }

    #[test]
    fn binary_bodies_are_cut_at_the_byte() {
        let body = vec![0x80u8; 10_000];
        let cut = truncate_bytes(&body, 100);
        assert!(cut.len() <= 100);
        let marker = cut.iter().position(|b| *b == 0xE2).expect("marker");
        let said = format!("…[truncated {} bytes]", body.len() - marker);
        assert_eq!(&cut[marker..], said.as_bytes());
    }

    #[test]
    fn a_cap_smaller_than_the_marker_still_holds() {
        let cut = truncate_text("abcdefghijklmnopqrstuvwxyz", 5);
        assert!(cut.len() <= 5);
    }

    #[test]
    fn no_cap_is_ever_exceeded_and_what_is_kept_is_a_prefix() {
        let texts = [
            "a".repeat(300),
            "é€😀".repeat(40),
            format!("x{}", "€".repeat(99)),
        ];
        for text in &texts {
            for max in 0..=text.len() + 1 {
                let cut = truncate_text(text, max);
                assert!(cut.len() <= max, "{max}: {cut}");
                let kept = cut.find("…[truncated ").unwrap_or(cut.len());
                assert!(text.starts_with(&cut[..kept]), "{max}: {cut}");
                if kept < cut.len() {
                    let said = format!("…[truncated {} bytes]", text.len() - kept);
                    assert_eq!(&cut[kept..], said, "{max}");
                }
            }
        }
    }

    #[test]
    fn headers_fit_the_smallest_frame_whatever_they_hold() {
        let huge = "€".repeat(10_000);
        let many: Vec<(String, String)> = (0..100)
            .map(|i| (format!("x-h{i}-{}", "n".repeat(300)), huge.clone()))
            .collect();
        let bounded = bound_headers(&many);
        assert!(bounded.len() <= MAX_HEADERS);
        assert!(headers_size(&bounded) <= MAX_HEADERS_BYTES);
        // The content header's other properties: class, weight, body size, flags (14), content
        // type, delivery mode, reply-to and correlation id (at most 256 each), table length.
        assert!(headers_size(&bounded) + 14 + 17 + 1 + 2 * 256 + 4 + 8 < AMQP_MIN_FRAME);
        for (k, v) in &bounded {
            assert!(k.len() <= MAX_HEADER_NAME_BYTES && v.len() <= MAX_HEADER_VALUE_BYTES);
        }
        // The first headers, which carry the reason and the error, keep their room.
        assert!(bounded[0].1.len() > MAX_HEADER_VALUE_BYTES - 4);
        assert!(bounded[0].1.contains("…[truncated "));
    }

    #[test]
    fn typed_bodies_over_the_cap_are_refused() {
        let mut body = vec![b'x'; MAX_BODY_BYTES];
        assert!(check_body(&body).is_ok());
        body.push(b'x');
        assert!(matches!(
            check_body(&body),
            Err(crate::BusError::TooLarge { len, max: MAX_BODY_BYTES }) if len == MAX_BODY_BYTES + 1
        ));
        let raw = truncate_bytes(&body, MAX_BODY_BYTES);
        assert!(raw.len() <= MAX_BODY_BYTES && raw.ends_with(b" bytes]"));
    }

    #[test]
    fn small_headers_pass_unchanged() {
        let h = vec![
            ("x-crawlfleet-reason".to_owned(), "http_404".to_owned()),
            ("x-crawlfleet-attempt".to_owned(), "3".to_owned()),
        ];
        assert_eq!(bound_headers(&h), h);
    }
}
