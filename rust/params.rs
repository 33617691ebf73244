//! AT parameter lists, in both directions.
//!
//! Commands carry their arguments as a comma-separated list (`AT+SOCKET=4,host,80`),
//! and some responses do too. Host and emulator must agree byte for byte on how a
//! value that itself holds a comma, a quote or a backslash travels, so the grammar
//! lives here, once:
//!
//! ```text
//! list   = ""                          ; no parameters at all
//!        | param *( "," param )
//! param  = bare | quoted
//! bare   = *( any byte except "," )    ; verbatim, a backslash is literal;
//!                                      ; must not start with a double quote
//! quoted = DQUOTE *( "\" any-byte | any byte except DQUOTE and "\" ) DQUOTE
//!                                      ; must be followed by "," or the end
//! ```
//!
//! [`format_param`] is the inverse: a value is written bare when that reads back as
//! the same value, and quoted (escaping `"` and `\`) otherwise. A value holding CR or
//! LF cannot be carried in a command line at all and is refused with
//! [`CoreError::LineBreakInParam`].

use crate::error::CoreError;

const QUOTE: u8 = b'"';
const ESCAPE: u8 = b'\\';
const COMMA: u8 = b',';

/// Splits an AT parameter list into its values, undoing quoting and escapes.
///
/// An empty list has no parameters; `a,` has two (`a` and an empty one); `""` has one
/// empty parameter. Errors carry byte offsets into `list` where that helps.
pub fn parse_params(list: &[u8]) -> Result<Vec<Vec<u8>>, CoreError> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    // Upper bound on the parameter count: commas inside quotes only over-estimate.
    let mut params = Vec::with_capacity(memchr::memchr_iter(COMMA, list).count() + 1);
    let mut pos = 0;
    loop {
        let rest = list.get(pos..).unwrap_or_default();
        let (value, next) = if rest.first() == Some(&QUOTE) {
            parse_quoted(list, pos + 1)?
        } else {
            match memchr::memchr(COMMA, rest) {
                Some(i) => (
                    rest.get(..i).unwrap_or_default().to_vec(),
                    Some(pos + i + 1),
                ),
                None => (rest.to_vec(), None),
            }
        };
        params.push(value);
        match next {
            Some(p) => pos = p,
            None => return Ok(params),
        }
    }
}

/// Reads a quoted value whose content starts at `pos` (just past the opening quote).
///
/// Returns the value and the offset where the next parameter starts, or `None` when
/// the list ends after the closing quote.
fn parse_quoted(list: &[u8], mut pos: usize) -> Result<(Vec<u8>, Option<usize>), CoreError> {
    let mut value = Vec::new();
    loop {
        let rest = list.get(pos..).unwrap_or_default();
        let Some(i) = memchr::memchr2(QUOTE, ESCAPE, rest) else {
            return Err(CoreError::UnterminatedQuote);
        };
        value.extend_from_slice(rest.get(..i).unwrap_or_default());
        let special = pos + i;
        if rest.get(i) == Some(&ESCAPE) {
            let Some(&escaped) = list.get(special + 1) else {
                return Err(CoreError::DanglingEscape);
            };
            value.push(escaped);
            pos = special + 2;
            continue;
        }
        // Closing quote: the end of the list or a comma must follow.
        let after = special + 1;
        return match list.get(after) {
            None => Ok((value, None)),
            Some(&COMMA) => Ok((value, Some(after + 1))),
            Some(_) => Err(CoreError::TextAfterQuote { at: after }),
        };
    }
}

/// Whether `value` must be quoted to read back unchanged (and to survive firmware
/// that trims blanks around bare parameters).
///
/// True for the empty value (so a single empty parameter is distinguishable from no
/// parameters), for values holding `,`, `"` or `\`, and for values starting or
/// ending with a space or a tab.
pub fn needs_quoting(value: &[u8]) -> bool {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    match (value.first(), value.last()) {
        (Some(first), Some(last)) => {
            blank(first) || blank(last) || memchr::memchr3(COMMA, QUOTE, ESCAPE, value).is_some()
        }
        _ => true,
    }
}

/// Appends one parameter to `out`: bare when possible, else double-quoted with `"`
/// and `\` escaped by a backslash.
///
/// A value holding CR or LF is refused with [`CoreError::LineBreakInParam`] and
/// nothing is appended.
pub fn format_param(value: &[u8], out: &mut Vec<u8>) -> Result<(), CoreError> {
    if memchr::memchr2(b'\r', b'\n', value).is_some() {
        return Err(CoreError::LineBreakInParam);
    }
    if !needs_quoting(value) {
        out.extend_from_slice(value);
        return Ok(());
    }
    let escapes = memchr::memchr2_iter(QUOTE, ESCAPE, value).count();
    out.reserve(value.len() + escapes + 2);
    out.push(QUOTE);
    let mut rest = value;
    while let Some(i) = memchr::memchr2(QUOTE, ESCAPE, rest) {
        let (plain, special) = rest.split_at(i);
        out.extend_from_slice(plain);
        if let Some((&b, tail)) = special.split_first() {
            out.push(ESCAPE);
            out.push(b);
            rest = tail;
        } else {
            rest = special;
        }
    }
    out.extend_from_slice(rest);
    out.push(QUOTE);
    Ok(())
}

/// Appends the values as a comma-separated parameter list.
///
/// On error `out` is left exactly as it was: a half-written command line is never
/// sent.
pub fn format_params<'a, I: IntoIterator<Item = &'a [u8]>>(
    values: I,
    out: &mut Vec<u8>,
) -> Result<(), CoreError> {
    let start = out.len();
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(COMMA);
        }
        if let Err(e) = format_param(value, out) {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(list: &str) -> Result<Vec<Vec<u8>>, CoreError> {
        parse_params(list.as_bytes())
    }

    fn owned(values: &[&str]) -> Vec<Vec<u8>> {
        values.iter().map(|v| v.as_bytes().to_vec()).collect()
    }

    fn format(values: &[&[u8]]) -> Result<Vec<u8>, CoreError> {
        let mut out = Vec::new();
        format_params(values.iter().copied(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn empty_list_has_no_parameters() {
        assert_eq!(parse("").unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn bare_parameters_split_on_commas() {
        assert_eq!(
            parse("4,example.com,80").unwrap(),
            owned(&["4", "example.com", "80"])
        );
    }

    #[test]
    fn trailing_comma_adds_an_empty_parameter() {
        assert_eq!(parse("a,").unwrap(), owned(&["a", ""]));
        assert_eq!(parse(",").unwrap(), owned(&["", ""]));
    }

    #[test]
    fn empty_quotes_are_one_empty_parameter() {
        assert_eq!(parse("\"\"").unwrap(), owned(&[""]));
    }

    #[test]
    fn backslash_is_literal_in_a_bare_parameter() {
        assert_eq!(parse(r"a\b,c\").unwrap(), owned(&[r"a\b", r"c\"]));
    }

    #[test]
    fn quoted_parameter_keeps_commas_and_unescapes_any_byte() {
        assert_eq!(
            parse(r#""a,b","say \"hi\"","back\\slash","\x""#).unwrap(),
            owned(&["a,b", "say \"hi\"", r"back\slash", "x"])
        );
    }

    #[test]
    fn quote_inside_a_bare_parameter_is_literal() {
        assert_eq!(parse("a\"b,c").unwrap(), owned(&["a\"b", "c"]));
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert_eq!(parse("1,\"abc"), Err(CoreError::UnterminatedQuote));
        assert_eq!(parse(r#""abc\""#), Err(CoreError::UnterminatedQuote));
    }

    #[test]
    fn backslash_ending_a_quoted_list_is_a_dangling_escape() {
        assert_eq!(parse("\"abc\\"), Err(CoreError::DanglingEscape));
    }

    #[test]
    fn text_after_closing_quote_reports_its_offset() {
        assert_eq!(
            parse("1,\"ab\"c,2"),
            Err(CoreError::TextAfterQuote { at: 6 })
        );
        assert_eq!(parse("\"a\" "), Err(CoreError::TextAfterQuote { at: 3 }));
    }

    #[test]
    fn plain_values_are_written_bare() {
        assert_eq!(
            format(&[b"4", b"example.com", b"80"]).unwrap(),
            b"4,example.com,80"
        );
        assert_eq!(format(&[b"in side"]).unwrap(), b"in side");
    }

    #[test]
    fn special_values_are_quoted_and_escaped() {
        assert_eq!(format(&[b""]).unwrap(), b"\"\"");
        assert_eq!(format(&[b"a,b"]).unwrap(), b"\"a,b\"");
        assert_eq!(format(&[br#"say "hi""#]).unwrap(), br#""say \"hi\"""#);
        assert_eq!(format(&[br"a\b"]).unwrap(), br#""a\\b""#);
        assert_eq!(format(&[b" lead"]).unwrap(), b"\" lead\"");
        assert_eq!(format(&[b"trail\t"]).unwrap(), b"\"trail\t\"");
    }

    #[test]
    fn needs_quoting_matches_the_rules() {
        for v in [
            &b""[..],
            b",",
            b"\"",
            b"\\",
            b" x",
            b"x ",
            b"\tx",
            b"x\t",
            b"a,b",
        ] {
            assert!(needs_quoting(v), "{v:?}");
        }
        for v in [&b"x"[..], b"a b", b"a\tb", b"\xff\x00"] {
            assert!(!needs_quoting(v), "{v:?}");
        }
    }

    #[test]
    fn no_values_format_to_an_empty_list() {
        assert_eq!(format(&[]).unwrap(), b"");
    }

    #[test]
    fn line_break_in_a_value_is_refused_and_nothing_is_written() {
        let mut out = b"AT+X=".to_vec();
        assert_eq!(
            format_param(b"a\nb", &mut out),
            Err(CoreError::LineBreakInParam)
        );
        assert_eq!(out, b"AT+X=");
        let values: [&[u8]; 3] = [b"ok", b"also,ok", b"bad\r"];
        assert_eq!(
            format_params(values, &mut out),
            Err(CoreError::LineBreakInParam)
        );
        assert_eq!(out, b"AT+X=");
    }

    fn value_without_line_breaks() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            Just(b'"'),
            Just(b'\\'),
            Just(b','),
            Just(b' '),
            Just(b'\t'),
            any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        ];
        proptest::collection::vec(byte, 0..8)
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(
            values in proptest::collection::vec(value_without_line_breaks(), 0..6)
        ) {
            let mut out = Vec::new();
            format_params(values.iter().map(Vec::as_slice), &mut out).unwrap();
            prop_assert_eq!(parse_params(&out).unwrap(), values);
        }

        #[test]
        fn format_never_emits_line_breaks(
            values in proptest::collection::vec(any::<Vec<u8>>(), 0..6)
        ) {
            let mut out = Vec::new();
            match format_params(values.iter().map(Vec::as_slice), &mut out) {
                Ok(()) => prop_assert!(!out.contains(&b'\r') && !out.contains(&b'\n')),
                Err(e) => {
                    prop_assert_eq!(e, CoreError::LineBreakInParam);
                    prop_assert!(out.is_empty());
                }
            }
        }

        #[test]
        fn parse_never_panics_on_arbitrary_bytes(list in any::<Vec<u8>>()) {
            let _ = parse_params(&list);
        }

        #[test]
        fn parse_never_panics_on_quote_heavy_bytes(
            list in proptest::collection::vec(
                prop_oneof![Just(b'"'), Just(b'\\'), Just(b','), Just(b'a')], 0..16)
        ) {
            if let Ok(values) = parse_params(&list) {
                prop_assert!(!values.is_empty() || list.is_empty());
            }
        }
    }
}
