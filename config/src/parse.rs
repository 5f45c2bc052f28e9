//! Parsers for flag values that several binaries share.

/// A size: `65536`, `64KiB`, `1MiB`, `2MB`, `10GiB`.
pub fn byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 65536, 64KiB, 1MiB or 10GiB"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "KB" => 1000,
        "MiB" | "M" => 1 << 20,
        "MB" => 1_000_000,
        "GiB" | "G" => 1 << 30,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit `{other}`: use B, KiB, MiB, GiB, KB, MB or GB"
            ))
        }
    };
    if n == 0 {
        return Err(format!("`{text}` is not a positive size"));
    }
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(byte_size("65536"), Ok(65536));
        assert_eq!(byte_size("64KiB"), Ok(64 << 10));
        assert_eq!(byte_size("2MB"), Ok(2_000_000));
        assert_eq!(byte_size("10GiB"), Ok(10 << 30));
        assert!(byte_size("0").unwrap_err().contains("positive"));
        assert!(byte_size("99999999999GiB")
            .unwrap_err()
            .contains("too large"));
        assert!(byte_size("3TB")
            .unwrap_err()
            .contains("unknown size unit `TB`"));
        assert!(byte_size("big")
            .unwrap_err()
            .contains("`big` is not a size"));
    }
}
