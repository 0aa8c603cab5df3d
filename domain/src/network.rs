//! The networks a withdrawal may go out on, the assets each carries (with
//! their on-chain precision), and their addresses, parsed into one canonical
//! spelling.
//!
//! A payout to a mistyped address is lost for good, so an address is only
//! whitelisted once it parses for its network: the checksum it carries
//! (EIP-55 when an EVM address is mixed-case, base58check for Tron and legacy
//! Bitcoin, bech32/bech32m for segwit) must hold, and its length must be the
//! network's. The encodings are the `tiny-keccak`, `bs58` and `bech32`
//! crates', not hand-written codecs. Solana addresses carry no checksum: a
//! character swapped for another base58 character still parses, and nothing
//! short of the chain can tell.
//!
//! The canonical form ([`ChainAddress::as_str`]) is what is stored and
//! compared, so one address in two spellings (an EVM address lower-case and
//! checksummed, a segwit address upper- and lower-case) is one address.

use crate::error::ParseError;
use crate::vocabulary::vocabulary;
use bech32::segwit;

vocabulary! {
    /// A network withdrawals can be sent on; its name is what clients send
    /// and rows store.
    pub enum Network {
        Ethereum => "ethereum",
        Polygon => "polygon",
        Arbitrum => "arbitrum",
        Base => "base",
        Tron => "tron",
        Solana => "solana",
        Bitcoin => "bitcoin",
    }
}

/// How a network writes its addresses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AddressFormat {
    /// `0x` and 20 bytes in hex; EIP-55 checksum when mixed-case.
    Evm,
    /// base58check of 0x41 and 20 bytes: 34 characters starting with `T`.
    Tron,
    /// base58 of a 32-byte public key, no checksum.
    Solana,
    /// Bitcoin mainnet: base58check P2PKH (`1…`) or P2SH (`3…`), or segwit
    /// (`bc1…`, bech32 for version 0, bech32m for version 1 and later).
    Bitcoin,
}

/// An asset a network carries, with the number of decimal places it has there.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct NetworkAsset {
    /// The ledger's symbol (`USDC`).
    pub symbol: &'static str,
    /// Decimal places of the asset on this network.
    pub decimals: u32,
}

const fn asset(symbol: &'static str, decimals: u32) -> NetworkAsset {
    NetworkAsset { symbol, decimals }
}

const ETHEREUM_ASSETS: &[NetworkAsset] =
    &[asset("ETH", 18), asset("USDC", 6), asset("USDT", 6), asset("DAI", 18), asset("PYUSD", 6)];
const POLYGON_ASSETS: &[NetworkAsset] = &[asset("USDC", 6), asset("USDT", 6), asset("DAI", 18)];
const ARBITRUM_ASSETS: &[NetworkAsset] = &[asset("ETH", 18), asset("USDC", 6), asset("USDT", 6), asset("DAI", 18)];
const BASE_ASSETS: &[NetworkAsset] = &[asset("ETH", 18), asset("USDC", 6), asset("DAI", 18)];
const TRON_ASSETS: &[NetworkAsset] = &[asset("USDT", 6)];
const SOLANA_ASSETS: &[NetworkAsset] = &[asset("USDC", 6), asset("USDT", 6), asset("PYUSD", 6)];
const BITCOIN_ASSETS: &[NetworkAsset] = &[asset("BTC", 8)];

/// Longer input is refused before any decoding (base58 decoding is quadratic).
const MAX_ADDRESS_CHARS: usize = 100;

impl Network {
    /// Every network, in the order they are offered.
    /// A network by its name (`ethereum`) as people write it: in any case,
    /// spaces around it ignored ([`Network::parse`] takes the exact name).
    pub fn from_input(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        Self::ALL.iter().copied().find(|n| n.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|n| n.as_str()).collect();
            ParseError::new("network", format!("unknown network {s:?}; one of {}", known.join(", ")))
        })
    }

    /// The name people read.
    pub fn display_name(self) -> &'static str {
        match self {
            Network::Ethereum => "Ethereum",
            Network::Polygon => "Polygon",
            Network::Arbitrum => "Arbitrum One",
            Network::Base => "Base",
            Network::Tron => "Tron",
            Network::Solana => "Solana",
            Network::Bitcoin => "Bitcoin",
        }
    }

    pub fn address_format(self) -> AddressFormat {
        match self {
            Network::Ethereum | Network::Polygon | Network::Arbitrum | Network::Base => AddressFormat::Evm,
            Network::Tron => AddressFormat::Tron,
            Network::Solana => AddressFormat::Solana,
            Network::Bitcoin => AddressFormat::Bitcoin,
        }
    }

    /// The assets it carries.
    pub fn assets(self) -> &'static [NetworkAsset] {
        match self {
            Network::Ethereum => ETHEREUM_ASSETS,
            Network::Polygon => POLYGON_ASSETS,
            Network::Arbitrum => ARBITRUM_ASSETS,
            Network::Base => BASE_ASSETS,
            Network::Tron => TRON_ASSETS,
            Network::Solana => SOLANA_ASSETS,
            Network::Bitcoin => BITCOIN_ASSETS,
        }
    }

    /// The asset `symbol` (in any case) on this network, or why not.
    pub fn asset(self, symbol: &str) -> Result<NetworkAsset, ParseError> {
        let s = symbol.trim();
        self.assets().iter().copied().find(|a| a.symbol.eq_ignore_ascii_case(s)).ok_or_else(|| {
            let carried: Vec<&str> = self.assets().iter().map(|a| a.symbol).collect();
            ParseError::new(
                "asset",
                format!("{} is not on {}; it carries {}", s.to_uppercase(), self.as_str(), carried.join(", ")),
            )
        })
    }
}

impl AddressFormat {
    /// One line people can check an address against.
    pub fn describe(self) -> &'static str {
        match self {
            AddressFormat::Evm => "0x and 40 hex digits (20 bytes); mixed case must match its EIP-55 checksum",
            AddressFormat::Tron => "34 base58 characters starting with T (base58check, version byte 0x41)",
            AddressFormat::Solana => "32 to 44 base58 characters (a 32-byte public key; no checksum)",
            AddressFormat::Bitcoin => {
                "mainnet: 1… (P2PKH) or 3… (P2SH) base58check, or bc1… segwit (bech32 v0, bech32m v1+)"
            }
        }
    }

    /// An example address of the format (for placeholders).
    pub fn example(self) -> &'static str {
        match self {
            AddressFormat::Evm => "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            AddressFormat::Tron => "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
            AddressFormat::Solana => "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
            AddressFormat::Bitcoin => "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        }
    }
}

/// An address that is valid on its network, in its canonical spelling:
/// EIP-55 for EVM networks, lower-case for segwit, the base58 encoding
/// (which is unique) otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainAddress {
    network: Network,
    canonical: String,
}

impl ChainAddress {
    /// Parses `raw` (surrounding whitespace ignored) as an address of `network`.
    pub fn parse(network: Network, raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(bad("must not be empty"));
        }
        if s.chars().count() > MAX_ADDRESS_CHARS {
            return Err(bad(format!("wrong length: {} characters is longer than any address", s.chars().count())));
        }
        let canonical = match network.address_format() {
            AddressFormat::Evm => evm(s)?,
            AddressFormat::Tron => tron(s)?,
            AddressFormat::Solana => solana(s)?,
            AddressFormat::Bitcoin => bitcoin(s)?,
        };
        Ok(Self { network, canonical })
    }

    pub fn network(&self) -> Network {
        self.network
    }

    /// The canonical spelling: what is stored and compared.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    pub fn into_inner(self) -> String {
        self.canonical
    }
}

fn bad(reason: impl Into<String>) -> ParseError {
    ParseError::new("address", reason)
}

/// The EIP-55 spelling of 40 lower-case hex digits: each letter upper-case
/// where the matching nibble of Keccak-256 of the lower-case text is 8 or more.
fn eip55(lower_hex: &str) -> String {
    use tiny_keccak::{Hasher, Keccak};
    let mut hash = [0u8; 32];
    let mut k = Keccak::v256();
    k.update(lower_hex.as_bytes());
    k.finalize(&mut hash);
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower_hex.chars().enumerate() {
        let byte = hash[i / 2];
        let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
        out.push(if nibble >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

fn evm(s: &str) -> Result<String, ParseError> {
    let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) else {
        return Err(bad("an EVM address starts with 0x"));
    };
    if let Some((i, c)) = hex.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(bad(format!("not hexadecimal: {c:?} at position {}", i + 3)));
    }
    if hex.len() != 40 {
        return Err(bad(format!("wrong length: 40 hex digits after 0x (20 bytes), got {}", hex.len())));
    }
    let lower = hex.to_ascii_lowercase();
    let canonical = eip55(&lower);
    let mixed = hex.chars().any(|c| c.is_ascii_lowercase()) && hex.chars().any(|c| c.is_ascii_uppercase());
    if mixed && canonical[2..] != *hex {
        return Err(bad(
            "bad checksum: a mixed-case EVM address carries an EIP-55 checksum and this one does not match; a character is probably mistyped",
        ));
    }
    Ok(canonical)
}

/// base58 decoding's refusals, in words.
fn base58_reason(e: bs58::decode::Error) -> String {
    match e {
        bs58::decode::Error::InvalidCharacter { character, index } => {
            format!("not base58: {character:?} at position {}", index + 1)
        }
        bs58::decode::Error::NonAsciiCharacter { index } => format!("not base58: non-ASCII at position {}", index + 1),
        bs58::decode::Error::InvalidChecksum { .. } => {
            "bad checksum (base58check): a character is probably mistyped".into()
        }
        bs58::decode::Error::NoChecksum => "wrong length: too short to carry a checksum".into(),
        other => format!("not base58check: {other}"),
    }
}

fn tron(s: &str) -> Result<String, ParseError> {
    if !s.starts_with('T') {
        return Err(bad("a Tron address starts with T"));
    }
    if s.len() != 34 {
        return Err(bad(format!("wrong length: a Tron address is 34 characters, got {}", s.chars().count())));
    }
    let payload = bs58::decode(s).with_check(None).into_vec().map_err(|e| bad(base58_reason(e)))?;
    if payload.len() != 21 {
        return Err(bad(format!("wrong length: a Tron address holds 21 bytes, this one {}", payload.len())));
    }
    if payload[0] != 0x41 {
        return Err(bad(format!("wrong version byte 0x{:02x}: Tron addresses have 0x41", payload[0])));
    }
    Ok(bs58::encode(payload).with_check().into_string())
}

fn solana(s: &str) -> Result<String, ParseError> {
    let bytes = bs58::decode(s).into_vec().map_err(|e| bad(base58_reason(e)))?;
    if bytes.len() != 32 {
        return Err(bad(format!("wrong length: a Solana address is 32 bytes, this one decodes to {}", bytes.len())));
    }
    Ok(bs58::encode(bytes).into_string())
}

fn bitcoin(s: &str) -> Result<String, ParseError> {
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("bc1") {
        return segwit_address(s);
    }
    if lower.starts_with("tb1") || lower.starts_with("bcrt1") || s.starts_with(['m', 'n', '2']) {
        return Err(bad("a testnet address: only Bitcoin mainnet is supported"));
    }
    if !s.starts_with(['1', '3']) {
        return Err(bad("a Bitcoin mainnet address starts with 1 (P2PKH), 3 (P2SH) or bc1 (segwit)"));
    }
    let payload = bs58::decode(s).with_check(None).into_vec().map_err(|e| bad(base58_reason(e)))?;
    if payload.len() != 21 {
        return Err(bad(format!("wrong length: a P2PKH or P2SH address holds 21 bytes, this one {}", payload.len())));
    }
    match payload[0] {
        0x00 | 0x05 => Ok(bs58::encode(payload).with_check().into_string()),
        v => Err(bad(format!("wrong version byte 0x{v:02x}: mainnet P2PKH is 0x00, P2SH 0x05"))),
    }
}

fn segwit_address(s: &str) -> Result<String, ParseError> {
    use bech32::primitives::decode::{ChecksumError, SegwitHrpstringError};
    let (hrp, version, program) = segwit::decode(s).map_err(|e| {
        bad(match &e.0 {
            SegwitHrpstringError::Checksum(ChecksumError::InvalidResidue) => {
                "bad checksum (bech32/bech32m): a character is probably mistyped, or the checksum is of the wrong kind for the witness version".to_string()
            }
            SegwitHrpstringError::WitnessLength(w) => format!("wrong length: {w}"),
            SegwitHrpstringError::TooLong(n) => format!("wrong length: {n} characters"),
            _ => format!("not a segwit address: {}", e.0),
        })
    })?;
    if hrp != bech32::hrp::BC {
        return Err(bad(format!("not a mainnet address (prefix {})", hrp.to_lowercase())));
    }
    segwit::encode(hrp, version, &program).map_err(|e| bad(format!("not a segwit address: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(n: Network, s: &str) -> String {
        match ChainAddress::parse(n, s) {
            Ok(a) => a.into_inner(),
            Err(e) => panic!("{s} on {n:?}: {e}"),
        }
    }

    fn refused(n: Network, s: &str) -> String {
        match ChainAddress::parse(n, s) {
            Ok(a) => panic!("{s} on {n:?} parsed as {}", a.as_str()),
            Err(e) => e.reason,
        }
    }

    /// The test vectors of EIP-55.
    const EIP55: &[&str] = &[
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];

    #[test]
    fn eip55_vectors_parse_and_checksum() {
        for v in &EIP55[4..] {
            // Mixed case: the vector is its own canonical form.
            assert_eq!(ok(Network::Ethereum, v), *v);
            // Any other spelling of it comes back as the vector.
            assert_eq!(ok(Network::Base, &v.to_lowercase()), *v);
            assert_eq!(ok(Network::Polygon, &format!("0x{}", v[2..].to_uppercase())), *v);
        }
        // All-caps and all-lower vectors are valid as written; the all-caps ones are already EIP-55.
        for v in &EIP55[..4] {
            ok(Network::Arbitrum, v);
        }
        assert_eq!(ok(Network::Ethereum, EIP55[0]), EIP55[0]);
        assert_eq!(ok(Network::Ethereum, EIP55[1]), EIP55[1]);
    }

    #[test]
    fn evm_refusals_say_why() {
        let v = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        // One letter's case flipped: the checksum no longer matches.
        let flipped = v.replacen("aA", "aa", 1);
        assert!(refused(Network::Ethereum, &flipped).contains("bad checksum"));
        // One digit changed.
        assert!(refused(Network::Ethereum, &v.replacen("6", "7", 1)).contains("bad checksum"));
        assert!(refused(Network::Ethereum, &v[..41]).contains("wrong length"));
        assert!(refused(Network::Ethereum, &format!("{v}0")).contains("wrong length"));
        assert!(refused(Network::Ethereum, "0xA11ce").contains("wrong length"));
        assert!(refused(Network::Ethereum, &v[2..]).contains("starts with 0x"));
        assert!(refused(Network::Ethereum, &v.replacen("5", "g", 1)).contains("not hexadecimal"));
        assert!(refused(Network::Ethereum, "").contains("empty"));
    }

    #[test]
    fn a_known_tron_address() {
        // The USDT (TRC-20) contract.
        let usdt = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";
        assert_eq!(ok(Network::Tron, usdt), usdt);
        assert!(refused(Network::Tron, &usdt.replacen("7", "8", 1)).contains("bad checksum"));
        assert!(refused(Network::Tron, &usdt[..33]).contains("wrong length"));
        assert!(refused(Network::Tron, &usdt.replacen("q", "0", 1)).contains("not base58"));
        // A Bitcoin address is base58check too, but not version 0x41.
        assert!(refused(Network::Tron, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").contains("starts with T"));
        assert!(refused(Network::Tron, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").contains("starts with T"));
    }

    #[test]
    fn known_solana_addresses() {
        // The USDC mint, and the system program (32 zero bytes).
        let usdc = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
        assert_eq!(ok(Network::Solana, usdc), usdc);
        assert_eq!(ok(Network::Solana, "11111111111111111111111111111111"), "11111111111111111111111111111111");
        assert!(refused(Network::Solana, &usdc.replacen("d", "0", 1)).contains("not base58"));
        assert!(refused(Network::Solana, &usdc[..40]).contains("wrong length"));
        assert!(refused(Network::Solana, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").contains("wrong length"));
    }

    #[test]
    fn bitcoin_base58check() {
        // The genesis block's P2PKH address, and the P2SH example of the Bitcoin wiki.
        let p2pkh = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa";
        let p2sh = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy";
        assert_eq!(ok(Network::Bitcoin, p2pkh), p2pkh);
        assert_eq!(ok(Network::Bitcoin, p2sh), p2sh);
        assert!(refused(Network::Bitcoin, &p2pkh.replacen("z", "y", 1)).contains("bad checksum"));
        assert!(refused(Network::Bitcoin, &p2sh.replacen("J", "K", 1)).contains("bad checksum"));
        assert!(refused(Network::Bitcoin, "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn").contains("testnet"));
        assert!(refused(Network::Bitcoin, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").contains("starts with 1"));
    }

    #[test]
    fn bip173_and_bip350_vectors() {
        // BIP-173 (bech32, witness v0), upper case: stored lower-case.
        assert_eq!(
            ok(Network::Bitcoin, "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
        );
        let p2wsh = "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3";
        assert_eq!(ok(Network::Bitcoin, p2wsh), p2wsh);
        // BIP-350 (bech32m, witness v1 and later).
        for v in [
            "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        ] {
            assert_eq!(ok(Network::Bitcoin, v), v);
        }
        assert_eq!(ok(Network::Bitcoin, "BC1SW50QGDZ25J"), "bc1sw50qgdz25j");
        // Mixed case is invalid (BIP-173).
        assert!(ChainAddress::parse(Network::Bitcoin, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kV8F3T4").is_err());
        // One character changed.
        assert!(refused(Network::Bitcoin, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5").contains("bad checksum"));
        // BIP-350 invalid: v1 with a bech32 checksum, v0 with a bech32m one.
        assert!(
            ChainAddress::parse(Network::Bitcoin, "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4")
                .is_err()
        );
        assert!(
            ChainAddress::parse(Network::Bitcoin, "bc1zw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4").is_err(),
            "v2 with a bech32 (not bech32m) checksum"
        );
        assert!(
            ChainAddress::parse(Network::Bitcoin, "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P").is_err(),
            "v0 of 16 bytes"
        );
        assert!(refused(Network::Bitcoin, "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx").contains("testnet"));
    }

    #[test]
    fn networks_and_assets() {
        assert_eq!(Network::from_input(" Ethereum ").unwrap(), Network::Ethereum);
        for &n in Network::ALL {
            assert_eq!(Network::from_input(n.as_str()).unwrap(), n);
            assert!(!n.assets().is_empty());
            // Every format's example is valid on every network of that format.
            ok(n, n.address_format().example());
        }
        assert!(Network::from_input("eth").unwrap_err().reason.contains("unknown network"));
        assert_eq!(Network::Tron.asset("usdt").unwrap().decimals, 6);
        assert!(Network::Bitcoin.asset("USDC").unwrap_err().reason.contains("not on bitcoin"));
        assert!(Network::Tron.asset("ETH").is_err());
    }
}
