//! Parameters: parsing any bytes never panics; formatting then parsing gives the values
//! back; a formatted list never holds CR or LF.
#![no_main]

use atsock::params::{format_params, parse_params};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_params(data);
    let values: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let mut line = Vec::new();
    match format_params(values.iter().copied(), &mut line) {
        Ok(()) => {
            assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
            let parsed = parse_params(&line).expect("formatted lists parse");
            let expected: Vec<Vec<u8>> = if line.is_empty() {
                Vec::new()
            } else {
                values.iter().map(|v| v.to_vec()).collect()
            };
            assert_eq!(parsed, expected);
        }
        Err(_) => assert!(data.contains(&b'\r') || data.contains(&b'\n')),
    }
});
