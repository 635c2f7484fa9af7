//! The `claims` request parameter (OIDC Core §5.5): which individual claims the client asks for, in the ID
//! token and at the UserInfo endpoint, each with `essential`, `value` or `values`.
//!
//! Must not: decide what is released (a claims request is only a request; the provider decides), or accept a claim
//! requested with both `value` and `values`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::OidcError;

/// At most this many claims may be named in one member (`userinfo` or `id_token`) of a claims request.
pub const MAX_REQUESTED_CLAIMS: usize = 256;

/// How one claim is requested (OIDC Core §5.5.1). `null` on the wire is the default: voluntary, any value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimRequest {
    /// `essential`: the client needs it for a smooth experience (it is still a request; `sub` and `acr`
    /// carry special meaning, see [`ClaimsRequest::required_sub`] and [`ClaimsRequest::acr`]).
    pub essential: bool,
    /// `value`: the claim is requested with this particular value.
    pub value: Option<Value>,
    /// `values`: the claim is requested with one of these values, in order of preference (non-empty).
    pub values: Option<Vec<Value>>,
    /// Members this crate does not interpret (extensions); kept and ignored.
    pub extra: Map<String, Value>,
}

impl ClaimRequest {
    fn parse(v: &Value) -> Result<ClaimRequest, OidcError> {
        let obj = match v {
            Value::Null => return Ok(ClaimRequest::default()),
            Value::Object(o) => o,
            _ => return Err(OidcError::InvalidParameter("claims")),
        };
        let mut out = ClaimRequest::default();
        for (k, v) in obj {
            match (k.as_str(), v) {
                ("essential", Value::Bool(b)) => out.essential = *b,
                ("value", v) if !v.is_null() => out.value = Some(v.clone()),
                ("values", Value::Array(a)) if !a.is_empty() => out.values = Some(a.clone()),
                ("essential" | "value" | "values", _) => {
                    return Err(OidcError::InvalidParameter("claims"));
                }
                _ => {
                    out.extra.insert(k.clone(), v.clone());
                }
            }
        }
        // `value` and `values` together contradict each other.
        if out.value.is_some() && out.values.is_some() {
            return Err(OidcError::InvalidParameter("claims"));
        }
        Ok(out)
    }

    fn to_value(&self) -> Value {
        if *self == ClaimRequest::default() {
            return Value::Null;
        }
        let mut m = self.extra.clone();
        if self.essential {
            m.insert("essential".into(), Value::Bool(true));
        }
        if let Some(v) = &self.value {
            m.insert("value".into(), v.clone());
        }
        if let Some(v) = &self.values {
            m.insert("values".into(), Value::Array(v.clone()));
        }
        Value::Object(m)
    }

    /// The requested values as strings (`value`, or `values` in order), when every one is a string.
    pub fn string_values(&self) -> Option<Vec<&str>> {
        match (&self.value, &self.values) {
            (Some(Value::String(s)), _) => Some(vec![s.as_str()]),
            (None, Some(vs)) => vs.iter().map(Value::as_str).collect(),
            _ => None,
        }
    }
}

/// A parsed `claims` request parameter.
///
/// ```
/// use portcullis_oidc::ClaimsRequest;
///
/// let req = ClaimsRequest::parse(
///     r#"{"userinfo":{"email":{"essential":true},"nickname":null},
///         "id_token":{"acr":{"essential":true,"values":["urn:mace:incommon:iap:silver"]}}}"#,
/// )?;
/// assert!(req.userinfo["email"].essential);
/// assert_eq!(req.acr(), Some((vec!["urn:mace:incommon:iap:silver"], true)));
/// // Whatever parses serializes back to the same request.
/// assert_eq!(ClaimsRequest::parse(&req.to_json())?, req);
///
/// // `essential` must be a boolean, members must be objects, and duplicates are refused.
/// assert!(ClaimsRequest::parse(r#"{"userinfo":{"email":{"essential":"yes"}}}"#).is_err());
/// assert!(ClaimsRequest::parse(r#"{"userinfo":["email"]}"#).is_err());
/// assert!(ClaimsRequest::parse(r#"{"userinfo":{"email":null,"email":null}}"#).is_err());
/// # Ok::<(), portcullis_oidc::OidcError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimsRequest {
    /// Claims requested from the UserInfo endpoint.
    pub userinfo: BTreeMap<String, ClaimRequest>,
    /// Claims requested in the ID token.
    pub id_token: BTreeMap<String, ClaimRequest>,
    /// Other top-level members (extensions); kept and ignored.
    pub extra: Map<String, Value>,
}

fn parse_member(v: &Value) -> Result<BTreeMap<String, ClaimRequest>, OidcError> {
    let Value::Object(m) = v else {
        return Err(OidcError::InvalidParameter("claims"));
    };
    if m.len() > MAX_REQUESTED_CLAIMS {
        return Err(OidcError::InvalidParameter("claims"));
    }
    let mut out = BTreeMap::new();
    for (name, req) in m {
        if name.is_empty() {
            return Err(OidcError::InvalidParameter("claims"));
        }
        out.insert(name.clone(), ClaimRequest::parse(req)?);
    }
    Ok(out)
}

impl ClaimsRequest {
    /// Parses the JSON text of the parameter: one object, no duplicate members at any depth, `userinfo` and
    /// `id_token` objects mapping claim names to `null` or a claim request whose `essential` is a boolean,
    /// `values` a non-empty array, and which does not give both `value` and `values`.
    pub fn parse(text: &str) -> Result<ClaimsRequest, OidcError> {
        let obj = portcullis_jose::parse_strict_object(text.as_bytes())
            .map_err(|_| OidcError::InvalidParameter("claims"))?;
        Self::from_object(&obj)
    }

    /// Like [`parse`](Self::parse), from an already parsed object (a request object's `claims` member).
    pub fn from_object(obj: &Map<String, Value>) -> Result<ClaimsRequest, OidcError> {
        let mut out = ClaimsRequest::default();
        for (k, v) in obj {
            match k.as_str() {
                "userinfo" => out.userinfo = parse_member(v)?,
                "id_token" => out.id_token = parse_member(v)?,
                _ => {
                    out.extra.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(out)
    }

    /// The JSON object this request serializes to (members with no requested claims are left out).
    pub fn to_object(&self) -> Map<String, Value> {
        let mut m = self.extra.clone();
        let member = |claims: &BTreeMap<String, ClaimRequest>| {
            Value::Object(
                claims
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            )
        };
        if !self.userinfo.is_empty() {
            m.insert("userinfo".into(), member(&self.userinfo));
        }
        if !self.id_token.is_empty() {
            m.insert("id_token".into(), member(&self.id_token));
        }
        m
    }

    /// The JSON text of the parameter.
    pub fn to_json(&self) -> String {
        Value::Object(self.to_object()).to_string()
    }

    /// The `sub` value the client requires, from either member (OIDC Core §5.5.1: the provider must then only
    /// answer positively for that End-User). Two different required values are contradictory: `Err`.
    pub fn required_sub(&self) -> Result<Option<&str>, OidcError> {
        let mut found: Option<&str> = None;
        for member in [&self.id_token, &self.userinfo] {
            if let Some(r) = member.get("sub") {
                let v = match (&r.value, &r.values) {
                    (Some(Value::String(s)), _) => Some(s.as_str()),
                    (None, None) => None,
                    _ => return Err(OidcError::InvalidParameter("claims")),
                };
                match (found, v) {
                    (Some(a), Some(b)) if a != b => {
                        return Err(OidcError::InvalidParameter("claims"));
                    }
                    (None, Some(b)) => found = Some(b),
                    _ => {}
                }
            }
        }
        Ok(found)
    }

    /// The `acr` values requested for the ID token and whether they are essential (OIDC Core §5.5.1.1: an
    /// essential `acr` the provider cannot satisfy is an error, a voluntary one is not).
    pub fn acr(&self) -> Option<(Vec<&str>, bool)> {
        let r = self.id_token.get("acr")?;
        Some((r.string_values().unwrap_or_default(), r.essential))
    }

    /// Whether `name` is a claim only the provider sets (`sub`, `acr`, `auth_time`, ...): asking for one is not
    /// asking for the user's data.
    pub fn is_provider_set(name: &str) -> bool {
        crate::claims::PROVIDER_SET.contains(&name)
    }

    /// The user claims asked for, in either member: every name except those the provider sets itself.
    pub fn user_claim_names(&self) -> BTreeSet<&str> {
        self.userinfo_names()
            .chain(self.id_token_names())
            .filter(|n| !Self::is_provider_set(n))
            .collect()
    }

    /// Drops every requested user claim that `allowed` refuses (claims the provider sets itself stay): what a
    /// provider does before it stores or releases anything, so a claims request cannot reach past the claims
    /// the client may be given (OIDC Core §5.5 leaves the decision to the provider).
    pub fn retain_user_claims(&mut self, allowed: impl Fn(&str) -> bool) {
        for member in [&mut self.userinfo, &mut self.id_token] {
            member.retain(|name, _| Self::is_provider_set(name) || allowed(name));
        }
    }

    /// Names of the claims requested at the UserInfo endpoint.
    pub fn userinfo_names(&self) -> impl Iterator<Item = &str> {
        self.userinfo.keys().map(String::as_str)
    }

    /// Names of the claims requested in the ID token.
    pub fn id_token_names(&self) -> impl Iterator<Item = &str> {
        self.id_token.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_user_claims_drops_what_is_not_allowed_and_keeps_provider_claims() {
        let mut r = ClaimsRequest::parse(
            r#"{"userinfo":{"email":null,"payment_details":null,"sub":{"value":"u1"}},
                "id_token":{"acr":{"essential":true},"name":null}}"#,
        )
        .unwrap();
        assert_eq!(
            r.user_claim_names().into_iter().collect::<Vec<_>>(),
            ["email", "name", "payment_details"]
        );
        r.retain_user_claims(|n| n == "name");
        assert_eq!(
            r.user_claim_names().into_iter().collect::<Vec<_>>(),
            ["name"]
        );
        assert!(r.userinfo.contains_key("sub"));
        assert!(r.id_token.contains_key("acr"));
        assert_eq!(r.required_sub(), Ok(Some("u1")));
    }
}
