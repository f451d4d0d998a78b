//! `[registration]`: what Alipay's `registration` needs to know about the merchant and the
//! store beyond what every payment carries (`[merchant]`, `[store]`): the display name,
//! websites and logo, the merchant's address, the legal entity and the store's address.
//!
//! Every key is checked here, with the key named, before anything is sent: Alipay answers a
//! bad one with a bare `PARAM_ILLEGAL`, long after the person who typed it has gone home.
//! Where the reference gives no closed list (registration and business types, contact
//! types), the value must look like Alipay's enum spellings (capitals, digits, `_`) rather
//! than be one of a list this build might not have complete.

use serde::Deserialize;
use url::Url;

use super::validate::Validator;
use super::{Config, ConfigError, is_http};

/// Longest display name, legal name and address line (characters); Alipay's own limits for
/// these members are not published, 256 is what its other names allow.
pub const MAX_REGISTRATION_TEXT_CHARS: usize = 256;
/// `websites[].url` and `logo.logoUrl` (order-code.md: URL, 2048).
pub const MAX_URL_CHARS: usize = 2048;
/// At most this many websites: a shop has one or two, and each becomes a review item.
pub const MAX_WEBSITES: usize = 5;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegistration {
    pub(super) display_name: Option<String>,
    pub(super) logo_url: Option<String>,
    pub(super) websites: Option<Vec<String>>,
    pub(super) legal_name: Option<String>,
    pub(super) registration_type: Option<String>,
    pub(super) registration_no: Option<String>,
    pub(super) business_type: Option<String>,
    pub(super) contact_email: Option<String>,
    pub(super) contact_phone: Option<String>,
    pub(super) merchant_address: Option<RawAddress>,
    pub(super) store_address: Option<RawAddress>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAddress {
    pub(super) region: Option<String>,
    pub(super) state: Option<String>,
    pub(super) city: Option<String>,
    pub(super) address1: Option<String>,
    pub(super) address2: Option<String>,
    pub(super) zip_code: Option<String>,
}

/// A postal address as Alipay's `Address` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PostalAddress {
    /// ISO 3166 alpha-2, e.g. `US`.
    pub region: String,
    pub state: Option<String>,
    pub city: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub zip_code: Option<String>,
}

/// How the merchant can be reached about its registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactKind {
    Email,
    MobilePhone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub kind: ContactKind,
    pub value: String,
}

/// `[registration]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationConfig {
    /// What customers see in their wallet (`merchantDisplayName`); `merchant.name` by default.
    pub display_name: String,
    pub logo_url: Option<Url>,
    pub websites: Vec<Url>,
    pub legal_name: String,
    /// e.g. `ENTERPRISE_REGISTRATION_NO`.
    pub registration_type: String,
    pub registration_no: String,
    /// e.g. `ENTERPRISE`.
    pub business_type: String,
    /// At least one.
    pub contacts: Vec<Contact>,
    pub merchant_address: PostalAddress,
    pub store_address: PostalAddress,
}

impl RegistrationConfig {
    /// The demo café's registration, for the embedded sandbox without a config file.
    pub fn demo() -> RegistrationConfig {
        let address = |line: &str| PostalAddress {
            region: "US".into(),
            state: Some("CA".into()),
            city: Some("San Francisco".into()),
            address1: Some(line.into()),
            address2: None,
            zip_code: Some("94105".into()),
        };
        RegistrationConfig {
            display_name: "Demo Cafe".into(),
            logo_url: Url::parse("https://demo-cafe.example/logo.png").ok(),
            websites: Url::parse("https://demo-cafe.example/")
                .ok()
                .into_iter()
                .collect(),
            legal_name: "Demo Cafe LLC".into(),
            registration_type: "ENTERPRISE_REGISTRATION_NO".into(),
            registration_no: "DEMO-123456789".into(),
            business_type: "ENTERPRISE".into(),
            contacts: vec![Contact {
                kind: ContactKind::Email,
                value: "owner@demo-cafe.example".into(),
            }],
            merchant_address: address("1 Market St"),
            store_address: address("100 Main St"),
        }
    }
}

impl Config {
    /// The registration details, or a message naming the table to add.
    pub fn registration_details(&self) -> Result<&RegistrationConfig, ConfigError> {
        self.registration.as_ref().ok_or_else(|| {
            ConfigError::invalid_setting(
                self,
                "registration",
                "is missing; add a [registration] table with the legal name, registration type \
                 and number, business type, a contact and the addresses (see the example \
                 config), then run `alipay-pos merchant register --dry-run` to check it",
            )
        })
    }
}

/// Alipay's enum spellings: capitals, digits and `_`, 2 to 64 characters.
fn looks_like_enum(text: &str) -> bool {
    (2..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

impl Validator<'_> {
    /// `[registration]`; `None` when the file has no such table.
    pub(super) fn registration(
        &self,
        raw: Option<RawRegistration>,
        merchant_name: &str,
    ) -> Result<Option<RegistrationConfig>, ConfigError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let display_name = match raw.display_name {
            None => merchant_name.to_owned(),
            Some(text) => self.reg_text("registration.display_name", text)?,
        };
        let logo_url = raw
            .logo_url
            .map(|text| self.web_url("registration.logo_url", &text))
            .transpose()?;
        let sites = raw.websites.unwrap_or_default();
        if sites.len() > MAX_WEBSITES {
            return Err(self.invalid(
                "registration.websites",
                format!(
                    "lists {} websites; give at most {MAX_WEBSITES}",
                    sites.len()
                ),
            ));
        }
        let websites = sites
            .iter()
            .enumerate()
            .map(|(i, text)| self.web_url(&format!("registration.websites[{i}]"), text))
            .collect::<Result<Vec<_>, _>>()?;
        let required = |key: &str, value: Option<String>, example: &str| match value {
            None => Err(self.invalid(
                key,
                format!("is missing; Alipay needs it to register the merchant ({example})"),
            )),
            Some(text) => self.reg_text(key, text),
        };
        let legal_name = required(
            "registration.legal_name",
            raw.legal_name,
            "the company's registered name, such as \"Harbour Noodles Ltd\"",
        )?;
        let registration_no = required(
            "registration.registration_no",
            raw.registration_no,
            "the company registration number",
        )?;
        let registration_type = self.enum_text(
            "registration.registration_type",
            raw.registration_type,
            "ENTERPRISE_REGISTRATION_NO",
        )?;
        let business_type = self.enum_text(
            "registration.business_type",
            raw.business_type,
            "ENTERPRISE",
        )?;
        let mut contacts = Vec::new();
        if let Some(email) = raw.contact_email {
            let email = email.trim().to_owned();
            let valid = email.len() <= 256
                && email.split_once('@').is_some_and(|(user, domain)| {
                    !user.is_empty() && domain.contains('.') && !domain.contains('@')
                })
                && !email.chars().any(char::is_whitespace);
            if !valid {
                return Err(self.invalid(
                    "registration.contact_email",
                    format!("{email:?} is not an email address; write it as name@example.com"),
                ));
            }
            contacts.push(Contact {
                kind: ContactKind::Email,
                value: email,
            });
        }
        if let Some(phone) = raw.contact_phone {
            let phone = phone.trim().to_owned();
            let digits = phone.bytes().filter(u8::is_ascii_digit).count();
            let valid = (5..=20).contains(&digits)
                && phone
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b' ' | b'(' | b')'));
            if !valid {
                return Err(self.invalid(
                    "registration.contact_phone",
                    format!(
                        "{phone:?} is not a phone number; write 5 to 20 digits, with an \
                         optional leading + and spaces or dashes, such as \"+1 415 555 0100\""
                    ),
                ));
            }
            contacts.push(Contact {
                kind: ContactKind::MobilePhone,
                value: phone,
            });
        }
        if contacts.is_empty() {
            return Err(self.invalid(
                "registration.contact_email",
                "is missing, and so is `registration.contact_phone`; give at least one way \
                 Alipay can reach the merchant about the review",
            ));
        }
        let merchant_address =
            self.address("registration.merchant_address", raw.merchant_address)?;
        let store_address = self.address("registration.store_address", raw.store_address)?;
        Ok(Some(RegistrationConfig {
            display_name,
            logo_url,
            websites,
            legal_name,
            registration_type,
            registration_no,
            business_type,
            contacts,
            merchant_address,
            store_address,
        }))
    }

    fn reg_text(&self, key: &str, text: String) -> Result<String, ConfigError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(self.invalid(key, "is empty; give it a value or remove the line"));
        }
        let chars = trimmed.chars().count();
        if chars > MAX_REGISTRATION_TEXT_CHARS {
            return Err(self.invalid(
                key,
                format!(
                    "is {chars} characters long; at most {MAX_REGISTRATION_TEXT_CHARS} are \
                     accepted, shorten it"
                ),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(self.invalid(key, "contains control characters; remove them"));
        }
        Ok(trimmed.to_owned())
    }

    fn enum_text(
        &self,
        key: &str,
        value: Option<String>,
        example: &str,
    ) -> Result<String, ConfigError> {
        match value {
            None => Err(self.invalid(
                key,
                format!(
                    "is missing; set it to Alipay's value for the merchant, such as \"{example}\""
                ),
            )),
            Some(text) if looks_like_enum(text.trim()) => Ok(text.trim().to_owned()),
            Some(text) => Err(self.invalid(
                key,
                format!(
                    "{text:?} is not one of Alipay's values, which are written in capitals with \
                     underscores, such as \"{example}\""
                ),
            )),
        }
    }

    /// An http(s) URL with a host: an invalid website URL is `PARAM_ILLEGAL` at Alipay.
    fn web_url(&self, key: &str, text: &str) -> Result<Url, ConfigError> {
        let trimmed = text.trim();
        if trimmed.chars().count() > MAX_URL_CHARS {
            return Err(self.invalid(
                key,
                format!("is longer than {MAX_URL_CHARS} characters; use a shorter address"),
            ));
        }
        match Url::parse(trimmed) {
            Ok(url) if is_http(&url) => Ok(url),
            _ => Err(self.invalid(
                key,
                format!("{text:?} is not a web address; write it in full, such as \"https://example.com/\""),
            )),
        }
    }

    fn address(&self, key: &str, raw: Option<RawAddress>) -> Result<PostalAddress, ConfigError> {
        let Some(raw) = raw else {
            return Err(self.invalid(
                key,
                format!(
                    "is missing; add a [{key}] table with at least `region` (the 2-letter \
                     country code, such as \"US\"), the city and the street address"
                ),
            ));
        };
        let region = match raw.region {
            Some(region) if region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase()) => {
                region
            }
            Some(region) => {
                return Err(self.invalid(
                    &format!("{key}.region"),
                    format!(
                        "{region:?} is not a country code; use the ISO 3166 two capital \
                         letters, such as \"US\" or \"SG\""
                    ),
                ));
            }
            None => {
                return Err(self.invalid(
                    &format!("{key}.region"),
                    "is missing; use the ISO 3166 two capital letters, such as \"US\"",
                ));
            }
        };
        let line = |field: &str, value: Option<String>| {
            value
                .map(|text| self.reg_text(&format!("{key}.{field}"), text))
                .transpose()
        };
        Ok(PostalAddress {
            region,
            state: line("state", raw.state)?,
            city: line("city", raw.city)?,
            address1: line("address1", raw.address1)?,
            address2: line("address2", raw.address2)?,
            zip_code: line("zip_code", raw.zip_code)?,
        })
    }
}
