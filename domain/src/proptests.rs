//! Property tests of every input parser: whatever a client sends — any
//! unicode, any length, odd numerals — parsing returns a value or a
//! `ParseError`, never panics, and what parses round-trips through storage.

use super::api_key::{ApiScope, IpAllowList, Nonce, Signature, is_key_id};
use super::{ChainAddress, DisplayName, Email, IsoDuration, Network, Password, RoleSet, UsdAmount, is_plain_decimal};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::str::FromStr;

/// Arbitrary text, plus the shapes parsers are most likely to trip on.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,300}",
        "[0-9a-fA-F.:/ \\-+eE_@]{0,80}",
        Just("1e999999".to_string()),
        Just("NaN".to_string()),
        Just("-0".to_string()),
        Just("\u{0}".to_string()),
        Just("9".repeat(10_000)),
        Just(format!("{}.5", "0".repeat(10_000))),
        prop_oneof![
            Just("+1"),
            Just(" 10"),
            Just("1,000"),
            Just("0x10"),
            Just("Infinity"),
            Just("1e-999999"),
            Just("\u{661}\u{662}"),
            Just("0.0000000000000000000000000001"),
            Just("79228162514264337593543950335"),
        ]
        .prop_map(str::to_string),
        Just("a@b.".to_string()),
        Just("::ffff:10.0.0.1/129".to_string()),
    ]
}

/// Text shaped like addresses: each format's alphabet and prefixes, any
/// length, and real addresses with one character replaced, inserted or cut.
fn address_text() -> impl Strategy<Value = String> {
    let real = prop_oneof![
        Just("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
        Just("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
        Just("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"),
        Just("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        Just("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
        Just("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
        Just("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"),
    ];
    let mutated = (real, any::<prop::sample::Index>(), any::<char>(), 0u8..3).prop_map(|(r, at, c, how)| {
        let mut chars: Vec<char> = r.chars().collect();
        let i = at.index(chars.len());
        match how {
            0 => chars[i] = c,
            1 => chars.insert(i, c),
            _ => {
                chars.remove(i);
            }
        }
        chars.into_iter().collect::<String>()
    });
    prop_oneof![
        text(),
        mutated,
        "0[xX][0-9a-fA-F]{0,45}",
        "T[1-9A-HJ-NP-Za-km-z]{0,40}",
        "[1-9A-HJ-NP-Za-km-z]{0,120}",
        "(bc|BC|tb|bC)1[02-9ac-hj-np-zAC-HJ-NP-Z]{0,90}",
        "[13][1-9A-HJ-NP-Za-km-z]{20,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_parsers_never_panic(s in text()) {
        let _ = Email::parse(&s);
        let _ = DisplayName::parse("name", &s);
        let _ = Password::parse(&s);
        let _ = ApiScope::parse(&s);
        let _ = Nonce::parse(&s);
        let _ = Signature::parse(&s);
        let _ = is_key_id(&s);
        let _ = IpAllowList::parse(std::slice::from_ref(&s));
        let _ = IpAllowList::from_stored(&s);
        let _ = RoleSet::from_stored(&s);
        let _ = UsdAmount::from_stored(&s);
        let _ = IsoDuration::parse("grace", &s);
    }

    #[test]
    fn address_parsers_never_panic(s in address_text()) {
        for &n in Network::ALL {
            let _ = Network::from_input(&s);
            let _ = n.asset(&s);
            if let Ok(a) = ChainAddress::parse(n, &s) {
                // The canonical spelling parses to itself.
                let again = ChainAddress::parse(n, a.as_str()).expect("a canonical address parses again");
                prop_assert_eq!(again.as_str(), a.as_str());
            }
        }
    }

    #[test]
    fn evm_addresses_in_any_case_are_one_address(bytes in proptest::array::uniform20(any::<u8>())) {
        let lower = format!("0x{}", hex::encode(bytes));
        let canonical = ChainAddress::parse(Network::Ethereum, &lower).expect("lower-case hex parses");
        let upper = format!("0x{}", hex::encode_upper(bytes));
        prop_assert_eq!(ChainAddress::parse(Network::Ethereum, &upper).map(ChainAddress::into_inner).ok(), Some(canonical.as_str().to_string()));
        prop_assert_eq!(ChainAddress::parse(Network::Ethereum, canonical.as_str()).map(ChainAddress::into_inner).ok(), Some(canonical.as_str().to_string()));
    }

    #[test]
    fn plain_decimals_parse_exactly(s in prop_oneof![text(), "-?0{0,3}[0-9]{1,30}(\\.[0-9]{1,30})?"]) {
        if is_plain_decimal(&s) {
            let d = Decimal::from_str(&s).expect("a plain decimal parses");
            let places = s.split_once('.').map_or(0, |(_, f)| f.len());
            prop_assert_eq!(d.scale() as usize, places, "no rounding: {}", s);
        }
    }

    #[test]
    fn decimals_display_as_plain_decimals(mantissa in any::<i64>(), scale in 0u32..=28) {
        let d = Decimal::new(mantissa, scale);
        prop_assert!(is_plain_decimal(&d.to_string()), "{}", d);
        prop_assert_eq!(Decimal::from_str(&d.to_string()).ok(), Some(d));
    }

    #[test]
    fn decimals_from_any_text_parse_or_refuse(s in text()) {
        if let Ok(d) = Decimal::from_str(&s)
            && let Ok(usd) = UsdAmount::parse("amount", d)
        {
            prop_assert!(usd.value().scale() <= 2);
            prop_assert!(!usd.value().is_sign_negative() || usd.value().is_zero());
            prop_assert_eq!(UsdAmount::from_stored(&usd.to_stored()).map(UsdAmount::value).ok(), Some(usd.value()));
        }
    }

    #[test]
    fn usd_amounts_round_trip(mantissa in any::<i64>(), scale in 0u32..12) {
        let d = Decimal::new(mantissa, scale);
        match UsdAmount::parse("amount", d) {
            Ok(usd) => {
                prop_assert_eq!(usd.value(), d.normalize().abs());
                prop_assert_eq!(UsdAmount::from_stored(&usd.to_stored()).map(UsdAmount::value).ok(), Some(usd.value()));
            }
            Err(_) => prop_assert!(d.is_sign_negative() || d.normalize().scale() > 2 || d > Decimal::from(10u64.pow(18))),
        }
    }

    #[test]
    fn emails_normalise_idempotently(local in "[a-zA-Z0-9._%+-]{1,30}", domain in "[a-zA-Z0-9-]{1,20}\\.[a-zA-Z]{2,6}") {
        let raw = format!("{local}@{domain}");
        if let Ok(e) = Email::parse(&raw) {
            let again = Email::parse(e.as_str()).expect("a parsed e-mail parses again");
            prop_assert_eq!(again.as_str(), e.as_str());
        }
    }

    #[test]
    fn durations_round_trip(secs in 0i64..=1_000_000_000) {
        let d = IsoDuration::from_secs(secs);
        prop_assert_eq!(IsoDuration::parse("d", &d.to_iso()).ok(), Some(d));
    }

    #[test]
    fn nonces_keep_their_order_in_storage(a in any::<u64>(), b in any::<u64>()) {
        let (na, nb) = (Nonce::parse(&a.to_string()).unwrap(), Nonce::parse(&b.to_string()).unwrap());
        prop_assert_eq!(na.to_stored().cmp(&nb.to_stored()), a.cmp(&b));
        prop_assert_eq!(Nonce::from_stored(na.to_stored()), na);
    }

    #[test]
    fn signatures_round_trip(bytes in proptest::array::uniform32(any::<u8>())) {
        let parsed = Signature::parse(&hex::encode(bytes)).expect("64 lowercase hex characters");
        prop_assert_eq!(parsed.0, bytes);
        // Lowercase only: the uppercase form parses just when it is the same text.
        let upper = hex::encode_upper(bytes);
        prop_assert_eq!(Signature::parse(&upper).is_ok(), upper == hex::encode(bytes));
    }

    #[test]
    fn allow_lists_round_trip(a in any::<[u8; 4]>(), prefix in 0u8..=32, v6 in any::<[u16; 8]>(), p6 in 0u8..=128) {
        let v4 = format!("{}.{}.{}.{}/{prefix}", a[0], a[1], a[2], a[3]);
        let v6 = format!("{}/{p6}", std::net::Ipv6Addr::from(v6));
        let list = IpAllowList::parse(&[v4, v6]).expect("valid CIDRs parse");
        let stored = IpAllowList::from_stored(&list.to_stored()).expect("stored lists parse");
        prop_assert_eq!(stored.entries(), list.entries());
    }
}
