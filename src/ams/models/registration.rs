//! `registration`, `inquiryRegistrationStatus`, `inquiryRegistrationInfo`.
//!
//! The docs collapse the child tables of `merchantInfo`, so most members are optional
//! strings without length checks; only what the reference states is enforced.

use serde::{Deserialize, Serialize};

use super::common::{Address, IN_STORE_PAYMENT, ResultInfo};
use super::validate::{self, Checked, Validate, ValidationError, join};

/// `merchantInfo.logo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Logo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
}

/// `merchantInfo.websites[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebSite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Validated as an http(s) URL: an invalid website URL is `PARAM_ILLEGAL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub website_type: Option<String>,
}

/// `registrationDetail.attachments[]`. The docs require `file` to be a downloadable URL;
/// the other members are from the SDK model.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_key: Option<String>,
}

/// `registrationDetail.contactInfo[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_no: Option<String>,
    /// e.g. `MOBILE_PHONE`, `EMAIL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_type: Option<String>,
}

/// `merchantInfo.registrationDetail`: the merchant's legal registration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_info: Option<Vec<ContactInfo>>,
    /// e.g. `ENTERPRISE_REGISTRATION_NO`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_address: Option<Address>,
    /// e.g. `ENTERPRISE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_effective_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_expire_date: Option<String>,
}

/// `merchantInfo` (MerchantRegistrationInfo).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MerchantRegistrationInfo {
    /// At most 64 here; `pay` allows only 32 (see [`super::Merchant`]).
    #[serde(default)]
    pub reference_merchant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_display_name: Option<String>,
    #[serde(rename = "merchantMCC", skip_serializing_if = "Option::is_none")]
    pub merchant_mcc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo: Option<Logo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub websites: Option<Vec<WebSite>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_detail: Option<RegistrationDetail>,
}

impl MerchantRegistrationInfo {
    fn check(&self, path: &str) -> Checked {
        if *self == MerchantRegistrationInfo::default() {
            return Err(ValidationError::new(path, "is required"));
        }
        validate::required_max(
            &join(path, "referenceMerchantId"),
            &self.reference_merchant_id,
            64,
        )?;
        if let Some(sites) = &self.websites {
            for (i, site) in sites.iter().enumerate() {
                validate::optional_url(&format!("{path}.websites[{i}].url"), site.url.as_deref())?;
            }
        }
        validate::optional_address(
            &join(path, "merchantAddress"),
            self.merchant_address.as_ref(),
        )?;
        if let Some(detail) = &self.registration_detail {
            validate::optional_address(
                &join(path, "registrationDetail.registrationAddress"),
                detail.registration_address.as_ref(),
            )?;
        }
        Ok(())
    }
}

/// `storeInfo` (StoreRegistrationInfo): required when registering for in-store payments.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreRegistrationInfo {
    #[serde(default)]
    pub reference_store_id: String,
    #[serde(default)]
    pub store_name: String,
    #[serde(default, rename = "storeMCC")]
    pub store_mcc: String,
    /// May carry `label`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_address: Option<Address>,
}

impl StoreRegistrationInfo {
    fn check(&self, path: &str) -> Checked {
        validate::required_max(
            &join(path, "referenceStoreId"),
            &self.reference_store_id,
            32,
        )?;
        validate::required(&join(path, "storeName"), &self.store_name)?;
        validate::required(&join(path, "storeMCC"), &self.store_mcc)?;
        validate::optional_address(&join(path, "storeAddress"), self.store_address.as_ref())
    }
}

/// `registration` request. `S` only means "accepted"; the outcome comes by
/// `notifyRegistrationStatus` or `inquiryRegistrationStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationRequest {
    #[serde(default)]
    pub registration_request_id: String,
    /// Note the capitalised `URL` in the wire name.
    #[serde(
        rename = "registrationNotifyURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub registration_notify_url: Option<String>,
    /// Echoed back in the response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_through_info: Option<String>,
    #[serde(default)]
    pub merchant_info: MerchantRegistrationInfo,
    /// `["IN_STORE_PAYMENT"]` for us.
    #[serde(default)]
    pub product_codes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_info: Option<StoreRegistrationInfo>,
}

impl Validate for RegistrationRequest {
    fn validate(&self) -> Checked {
        validate::request_id("registrationRequestId", &self.registration_request_id)?;
        validate::optional_url(
            "registrationNotifyURL",
            self.registration_notify_url.as_deref(),
        )?;
        validate::optional_max("passThroughInfo", self.pass_through_info.as_deref(), 2048)?;
        self.merchant_info.check("merchantInfo")?;
        if self.product_codes.is_empty() {
            return Err(ValidationError::new("productCodes", "is required"));
        }
        for (i, code) in self.product_codes.iter().enumerate() {
            validate::required(&format!("productCodes[{i}]"), code)?;
        }
        match &self.store_info {
            Some(store) => store.check("storeInfo"),
            None if self.product_codes.iter().any(|c| c == IN_STORE_PAYMENT) => Err(
                ValidationError::new("storeInfo", "is required for IN_STORE_PAYMENT"),
            ),
            None => Ok(()),
        }
    }
}

/// `registration` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponse {
    pub result: ResultInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_through_info: Option<String>,
}

/// `inquiryRegistrationStatus` request. All members are optional in the docs, which ask
/// for `referenceMerchantId` or `referenceStoreId`; validation requires at least one of
/// those or `registrationRequestId` (a request id alone names one registration).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InquiryRegistrationStatusRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_merchant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_store_id: Option<String>,
}

impl Validate for InquiryRegistrationStatusRequest {
    fn validate(&self) -> Checked {
        if self.reference_merchant_id.is_none()
            && self.registration_request_id.is_none()
            && self.reference_store_id.is_none()
        {
            return Err(ValidationError::new(
                "referenceMerchantId",
                "one of `referenceMerchantId`, `referenceStoreId` or `registrationRequestId` is required",
            ));
        }
        validate::optional_max(
            "referenceMerchantId",
            self.reference_merchant_id.as_deref(),
            64,
        )?;
        validate::optional_max(
            "registrationRequestId",
            self.registration_request_id.as_deref(),
            64,
        )?;
        validate::optional_max("referenceStoreId", self.reference_store_id.as_deref(), 32)
    }
}

wire_enum! {
    /// `registrationStatus`. The complete enum is not documented: the overall status was
    /// seen as `PENDING`/`COMPLETED`, the per-wallet one as `APPROVED`/`REJECTED` (or null).
    pub enum RegistrationStatus {
        Pending = "PENDING",
        Completed = "COMPLETED",
        Approved = "APPROVED",
        Rejected = "REJECTED",
    }
}

/// `registrationResult`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_status: Option<RegistrationStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_reasons: Option<String>,
}

/// `pspRegistrationResultList[]`: one wallet's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PspRegistrationResult {
    /// e.g. `AlipayCN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psp_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_result: Option<RegistrationResult>,
}

/// `inquiryRegistrationStatus` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InquiryRegistrationStatusResponse {
    pub result: ResultInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_result: Option<RegistrationResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psp_registration_result_list: Option<Vec<PspRegistrationResult>>,
}

/// `inquiryRegistrationInfo` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InquiryRegistrationInfoRequest {
    #[serde(default)]
    pub reference_merchant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_store_id: Option<String>,
}

impl InquiryRegistrationInfoRequest {
    pub fn new(reference_merchant_id: impl Into<String>) -> Self {
        Self {
            reference_merchant_id: reference_merchant_id.into(),
            reference_store_id: None,
        }
    }
}

impl Validate for InquiryRegistrationInfoRequest {
    fn validate(&self) -> Checked {
        validate::required_max("referenceMerchantId", &self.reference_merchant_id, 64)?;
        validate::optional_max("referenceStoreId", self.reference_store_id.as_deref(), 32)
    }
}

/// `inquiryRegistrationInfo` response: the latest successfully registered data, or only
/// `result` if nothing was registered yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InquiryRegistrationInfoResponse {
    pub result: ResultInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_info: Option<MerchantRegistrationInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_info: Option<StoreRegistrationInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_codes: Option<Vec<String>>,
}
