//! Money, exactly. On the wire: decimal strings in ETH with at most 18 decimals
//! (`"0.123456789012345678"`); inside: integer wei in a `u128` (3.4e20 ETH, far past any
//! supply). No floats anywhere: parsing reads digits, arithmetic is checked integer
//! arithmetic, and formatting writes digits back.
//!
//! Fees: `fee = price × fee_bps / 10000` and `tax = fee × fee_tax_bps / 10000`, each
//! rounded down to a whole wei; the payer pays `price + fee + tax`.

use std::fmt;

/// Wei per ether: 10^18.
pub const WEI_PER_ETH: u128 = 1_000_000_000_000_000_000;
/// Decimal places of an ETH amount.
pub const ETH_DECIMALS: usize = 18;
/// Basis points in one whole (100%).
pub const BPS_DENOMINATOR: u128 = 10_000;
/// The largest price a listing or an offer may ask, in whole ETH: 10^9 ETH (10^27 wei),
/// far above the ether in existence. Checked once, where a price is parsed, so that every
/// later step can carry it: the fee arithmetic (`price × fee_bps` and `fee × tax_bps`
/// with both rates at most 10000 stay below 10^32 in a u128), the order total (at most
/// 3 × price), the contract's uint256, PostgreSQL's NUMERIC(78,0) and the JSON decimal
/// strings. A price that `POST /orders` could not quote is refused up front.
pub const MAX_PRICE_ETH: u128 = 1_000_000_000;
/// [`MAX_PRICE_ETH`] in wei.
pub const MAX_PRICE: Wei = Wei(MAX_PRICE_ETH * WEI_PER_ETH);

/// An amount of ether in wei.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Wei(pub u128);

/// Why an amount is refused. `Display` names the field, for the 400 envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    /// Not a plain decimal string (sign, exponent, spaces inside, too many decimals...).
    Format(String),
    /// Zero where a positive amount is required.
    NotPositive(String),
    /// Beyond what the engine (or the fee arithmetic on it) can hold.
    TooLarge(String),
    /// A price above [`MAX_PRICE`].
    AboveMaxPrice(String),
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyError::Format(field) => write!(
                f,
                "{field} must be a decimal string with at most {ETH_DECIMALS} decimals"
            ),
            MoneyError::NotPositive(field) => write!(f, "{field} must be greater than 0"),
            MoneyError::TooLarge(field) => write!(f, "{field} is too large"),
            MoneyError::AboveMaxPrice(field) => {
                write!(f, "{field} must be at most {MAX_PRICE_ETH} ETH")
            }
        }
    }
}

impl From<MoneyError> for String {
    fn from(e: MoneyError) -> Self {
        e.to_string()
    }
}

impl Wei {
    pub const ZERO: Wei = Wei(0);

    /// Parses a decimal ETH string: digits, optionally `.` and 1 to 18 more digits.
    /// Leading/trailing whitespace is ignored; a sign, an exponent, a bare `.5` or `5.`,
    /// or a 19th decimal are refused (rounding would not be exact).
    pub fn parse_eth(field: &str, raw: &str) -> Result<Wei, MoneyError> {
        let s = raw.trim();
        let format = || MoneyError::Format(field.to_string());
        let (int_part, frac_part) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) {
            return Err(format());
        }
        let frac = match frac_part {
            None => "",
            Some(f) if all_digits(f) && f.len() <= ETH_DECIMALS => f,
            Some(_) => return Err(format()),
        };
        let too_large = || MoneyError::TooLarge(field.to_string());
        // Leading zeros are harmless ("007.5"); skip them so long zero runs cannot
        // overflow the integer parse.
        let int_digits = int_part.trim_start_matches('0');
        let whole: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| too_large())?
        };
        let mut frac_wei: u128 = 0;
        for (i, b) in frac.bytes().enumerate() {
            let digit = u128::from(b - b'0');
            frac_wei += digit * 10u128.pow((ETH_DECIMALS - 1 - i) as u32);
        }
        whole
            .checked_mul(WEI_PER_ETH)
            .and_then(|w| w.checked_add(frac_wei))
            .map(Wei)
            .ok_or_else(too_large)
    }

    /// As [`Wei::parse_eth`], refusing zero.
    pub fn parse_positive_eth(field: &str, raw: &str) -> Result<Wei, MoneyError> {
        let w = Self::parse_eth(field, raw)?;
        if w.0 == 0 {
            Err(MoneyError::NotPositive(field.to_string()))
        } else {
            Ok(w)
        }
    }

    /// A listing's or an offer's price: positive and at most [`MAX_PRICE`], so that
    /// every later step (fees, order total, escrow, storage) can carry it.
    pub fn parse_price(field: &str, raw: &str) -> Result<Wei, MoneyError> {
        let w = Self::parse_positive_eth(field, raw).map_err(|e| match e {
            MoneyError::TooLarge(f) => MoneyError::AboveMaxPrice(f),
            other => other,
        })?;
        if w > MAX_PRICE {
            return Err(MoneyError::AboveMaxPrice(field.to_string()));
        }
        Ok(w)
    }

    /// Parses a wei amount written as decimal digits (PostgreSQL `NUMERIC(78,0)::text`).
    pub fn parse_wei(raw: &str) -> Result<Wei, MoneyError> {
        let s = raw.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::Format("wei".into()));
        }
        s.parse()
            .map(Wei)
            .map_err(|_| MoneyError::TooLarge("wei".into()))
    }

    /// The normalised ETH string: no exponent, no trailing zeros, no trailing point
    /// (`"0.115"`, `"1"`, `"0.00575"`).
    pub fn to_eth_string(self) -> String {
        let whole = self.0 / WEI_PER_ETH;
        let frac = self.0 % WEI_PER_ETH;
        if frac == 0 {
            return whole.to_string();
        }
        let frac = format!("{frac:018}");
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }

    /// Wei as decimal digits (the escrow quote's `amount` / `fee`, SQL parameters).
    pub fn to_wei_string(self) -> String {
        self.0.to_string()
    }

    pub fn checked_add(self, other: Wei) -> Option<Wei> {
        self.0.checked_add(other.0).map(Wei)
    }

    /// `self × bps / 10000`, rounded down to a whole wei; `None` on overflow.
    pub fn checked_bps(self, bps: u32) -> Option<Wei> {
        self.0
            .checked_mul(u128::from(bps))
            .map(|n| Wei(n / BPS_DENOMINATOR))
    }
}

impl fmt::Display for Wei {
    /// ETH, normalised (what the wire shows).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_eth_string())
    }
}

/// What the payer of an order pays, split: the agreed price, the platform fee on it and
/// the tax on the fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub price: Wei,
    pub platform_fee: Wei,
    pub fee_tax: Wei,
    /// `price + platform_fee + fee_tax`: the escrow quote's `amount`.
    pub total: Wei,
}

impl Fees {
    /// Fees on `price`; `Err` (a 400 naming `price`) only when the arithmetic would
    /// overflow, never a panic.
    pub fn compute(price: Wei, fee_bps: u32, fee_tax_bps: u32) -> Result<Fees, MoneyError> {
        let too_large = || MoneyError::TooLarge("price".into());
        let platform_fee = price.checked_bps(fee_bps).ok_or_else(too_large)?;
        let fee_tax = platform_fee
            .checked_bps(fee_tax_bps)
            .ok_or_else(too_large)?;
        let total = price
            .checked_add(platform_fee)
            .and_then(|t| t.checked_add(fee_tax))
            .ok_or_else(too_large)?;
        Ok(Fees {
            price,
            platform_fee,
            fee_tax,
            total,
        })
    }

    /// The smallest price whose fee is not zero: the fee is rounded down to a whole wei,
    /// so below `ceil(10000 / fee_bps)` wei it is 0 (20 wei at the default 500 bps).
    /// `None` when the fee rate is 0.
    pub fn min_price_with_fee(fee_bps: u32) -> Option<Wei> {
        (fee_bps > 0).then(|| Wei(BPS_DENOMINATOR.div_ceil(u128::from(fee_bps))))
    }

    /// What the platform keeps (fee and its tax): the escrow quote's `fee`, which the
    /// contract pays to the platform on release (the payee gets `total − platform_take`).
    pub fn platform_take(&self) -> Wei {
        // Cannot overflow: both parts are within `total`, which was computed checked.
        Wei(self.platform_fee.0 + self.fee_tax.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding 9: every price the parser accepts can be quoted with the highest rates
    /// configuration allows; one wei more is refused naming the maximum.
    #[test]
    fn every_accepted_price_can_be_quoted() {
        let max = Wei::parse_price("price", &MAX_PRICE_ETH.to_string()).unwrap();
        assert_eq!(max, MAX_PRICE);
        let fees = Fees::compute(max, 10_000, 10_000).expect("the maximum is quotable");
        assert_eq!(fees.total, Wei(3 * MAX_PRICE.0));
        assert!(
            fees.total.to_wei_string().len() < 78,
            "fits NUMERIC(78,0) and uint256"
        );
        let above = format!("{MAX_PRICE_ETH}.000000000000000001");
        for raw in [
            above.as_str(),
            "1000000001",
            "340282366920938463463374607431768211456",
        ] {
            let err = Wei::parse_price("price", raw).unwrap_err();
            assert_eq!(
                err.to_string(),
                "price must be at most 1000000000 ETH",
                "{raw}"
            );
        }
        assert_eq!(
            Wei::parse_price("price", "0").unwrap_err().to_string(),
            "price must be greater than 0"
        );
    }

    #[test]
    fn the_fee_is_non_zero_from_the_documented_minimum() {
        let min = Fees::min_price_with_fee(500).unwrap();
        assert_eq!(min, Wei(20));
        assert_eq!(Fees::compute(min, 500, 0).unwrap().platform_fee, Wei(1));
        assert_eq!(
            Fees::compute(Wei(min.0 - 1), 500, 0).unwrap().platform_fee,
            Wei(0)
        );
        assert_eq!(Fees::min_price_with_fee(3).unwrap(), Wei(3334));
        assert_eq!(Fees::compute(Wei(3333), 3, 0).unwrap().platform_fee, Wei(0));
        assert_eq!(Fees::min_price_with_fee(0), None);
    }
    use proptest::prelude::*;

    fn eth(s: &str) -> Wei {
        Wei::parse_eth("price", s).unwrap()
    }

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(eth("1"), Wei(WEI_PER_ETH));
        assert_eq!(eth("0.0000002"), Wei(200_000_000_000));
        assert_eq!(eth("0.123456789012345678"), Wei(123_456_789_012_345_678));
        assert_eq!(eth("1.20"), eth("1.2"), "trailing zeros are accepted");
        assert_eq!(eth("0001.5"), eth("1.5"));
        assert_eq!(eth(" 2 "), Wei(2 * WEI_PER_ETH));
        assert_eq!(eth("0"), Wei::ZERO);
        assert_eq!(eth("0.000000000000000001"), Wei(1));
    }

    #[test]
    fn refuses_anything_inexact_or_odd() {
        for bad in [
            "",
            " ",
            ".",
            "1.",
            ".5",
            "-1",
            "+1",
            "1e18",
            "1E3",
            "0x10",
            "1,5",
            "1 000",
            "1.2.3",
            "NaN",
            "inf",
            "١",
            "0.1234567890123456789",
        ] {
            assert_eq!(
                Wei::parse_eth("price", bad),
                Err(MoneyError::Format("price".into())),
                "{bad:?}"
            );
        }
        assert_eq!(
            Wei::parse_eth("price", "0.1234567890123456789")
                .unwrap_err()
                .to_string(),
            "price must be a decimal string with at most 18 decimals"
        );
        assert_eq!(
            Wei::parse_positive_eth("price", "0.000")
                .unwrap_err()
                .to_string(),
            "price must be greater than 0"
        );
        let huge = "1".repeat(40);
        assert_eq!(
            Wei::parse_eth("price", &huge).unwrap_err().to_string(),
            "price is too large"
        );
    }

    #[test]
    fn formats_normalised() {
        assert_eq!(eth("0.115").to_string(), "0.115");
        assert_eq!(eth("1.000").to_string(), "1");
        assert_eq!(eth("0.00575").to_string(), "0.00575");
        assert_eq!(Wei(1).to_string(), "0.000000000000000001");
        assert_eq!(Wei::ZERO.to_string(), "0");
        assert_eq!(Wei(u128::MAX).to_wei_string(), u128::MAX.to_string());
    }

    #[test]
    fn fees_of_the_api_example() {
        // API.md: price 0.115 ETH, 5% fee, no tax → amount 0.12075, fee 0.00575.
        let f = Fees::compute(eth("0.115"), 500, 0).unwrap();
        assert_eq!(f.platform_fee.to_string(), "0.00575");
        assert_eq!(f.fee_tax, Wei::ZERO);
        assert_eq!(f.total.to_wei_string(), "120750000000000000");
        assert_eq!(f.platform_take().to_wei_string(), "5750000000000000");
        // Rounded down to a whole wei, each step.
        let f = Fees::compute(Wei(19_999), 500, 1000).unwrap();
        assert_eq!(f.platform_fee, Wei(999)); // 999.95
        assert_eq!(f.fee_tax, Wei(99)); // 99.9
        assert_eq!(f.total, Wei(19_999 + 999 + 99));
    }

    #[test]
    fn fee_overflow_is_an_error_not_a_panic() {
        let err = Fees::compute(Wei(u128::MAX / 2), 500, 0).unwrap_err();
        assert_eq!(err.to_string(), "price is too large");
        assert!(Fees::compute(Wei(u128::MAX), 0, 0).is_ok());
        assert!(Fees::compute(Wei(u128::MAX), 1, 0).is_err());
    }

    /// Any wei amount as an ETH string: integer part and up to 18 decimals.
    fn eth_strings() -> impl Strategy<Value = String> {
        (
            0u64..=1_000_000_000_000,
            proptest::option::of("[0-9]{1,18}"),
        )
            .prop_map(|(i, f)| match f {
                Some(f) => format!("{i}.{f}"),
                None => i.to_string(),
            })
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(w in any::<u128>()) {
            let s = Wei(w).to_eth_string();
            prop_assert_eq!(Wei::parse_eth("price", &s), Ok(Wei(w)));
            prop_assert!(!s.contains('e') && !s.ends_with('.'));
            prop_assert!(!s.contains('.') || !s.ends_with('0'), "no trailing zeros: {}", s);
        }

        #[test]
        fn parse_then_format_normalises(s in eth_strings(), zeros in 0usize..4) {
            let padded = if s.contains('.') { format!("{s}{}", "0".repeat(zeros)) } else { s.clone() };
            if padded.split_once('.').is_none_or(|(_, f)| f.len() <= 18) {
                let w = Wei::parse_eth("price", &padded).unwrap();
                let normal = w.to_eth_string();
                prop_assert_eq!(Wei::parse_eth("price", &normal), Ok(w));
                // Same digits as the input, minus trailing zeros / point / leading zeros.
                let expected = {
                    let (i, f) = padded.split_once('.').unwrap_or((padded.as_str(), ""));
                    let i = i.trim_start_matches('0');
                    let i = if i.is_empty() { "0" } else { i };
                    let f = f.trim_end_matches('0');
                    if f.is_empty() { i.to_string() } else { format!("{i}.{f}") }
                };
                prop_assert_eq!(normal, expected);
            }
        }

        #[test]
        fn parsing_is_exact_digit_arithmetic(i in 0u64..=u64::MAX, f in 0u64..WEI_PER_ETH as u64) {
            let s = format!("{i}.{f:018}");
            prop_assert_eq!(
                Wei::parse_eth("price", &s),
                Ok(Wei(u128::from(i) * WEI_PER_ETH + u128::from(f)))
            );
        }

        #[test]
        fn fees_are_exact_floor_division(price in 1u128..=u128::MAX / 10_000, fee_bps in 0u32..=10_000, tax_bps in 0u32..=10_000) {
            let f = Fees::compute(Wei(price), fee_bps, tax_bps).unwrap();
            // fee = floor(price × bps / 10000): fee × 10000 ≤ price × bps < (fee + 1) × 10000
            let scaled = price * u128::from(fee_bps);
            prop_assert!(f.platform_fee.0 * 10_000 <= scaled && scaled < (f.platform_fee.0 + 1) * 10_000);
            let scaled_tax = f.platform_fee.0 * u128::from(tax_bps);
            prop_assert!(f.fee_tax.0 * 10_000 <= scaled_tax && scaled_tax < (f.fee_tax.0 + 1) * 10_000);
            prop_assert_eq!(f.total.0, price + f.platform_fee.0 + f.fee_tax.0);
            prop_assert_eq!(f.total.0 - f.platform_take().0, price, "the payee gets exactly the price");
            prop_assert!(f.platform_fee <= Wei(price) && f.fee_tax <= f.platform_fee);
        }

        #[test]
        fn no_input_string_panics(s in "\\PC{0,40}") {
            let _ = Wei::parse_eth("price", &s);
            let _ = Wei::parse_wei(&s);
        }
    }
}
