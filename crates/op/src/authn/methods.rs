//! The login methods a provider offers ([`Methods`]), and what a record of passed methods proves: the `amr`
//! values (RFC 8176) and the `acr` (OIDC Core §2), which is a requested one the record satisfies, or else the
//! strongest the record has.
//!
//! `acr` values: each method's own (an authentication by that method), [`MFA_ACR`] when methods of two
//! different factors were passed, and [`SECOND_FACTOR_ACR`] for a relying party's signed second-factor request
//! (it checked the user's password itself; a method that is not a password was passed for this request).
//!
//! Must not: look at requests or sessions (that is [`super::policy`]).

use std::collections::BTreeSet;

use super::record::{AuthRecord, valid_method_id};
use super::{Factor, LoginMethod};

/// The `acr` of an authentication by methods of at least two different factors.
pub const MFA_ACR: &str = "urn:portcullis:acr:mfa";

/// The `acr` a relying party asks for in a signed second-factor request (seed 000's second-factor flow): it
/// checked a first factor (the user's password) itself, and the provider checks a method of another factor —
/// a passkey — of the user its `login_hint` names, while answering that request. The ID token's `amr` then
/// carries `mfa` next to the method's own values (RFC 8176 §2), as the signed request declares.
pub const SECOND_FACTOR_ACR: &str = portcullis_oidc::SECOND_FACTOR_ACR;

/// Whether a pass of `m` can satisfy `acr` (its own, or one of its [`LoginMethod::other_acrs`]).
pub fn produces(m: &dyn LoginMethod, acr: &str) -> bool {
    m.acr() == acr || m.other_acrs().contains(&acr)
}

/// An authentication level from the configuration ([`crate::config::AcrLevel`]): `methods` different methods
/// passed, one of them among `one_of` (when not empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// The `acr` value.
    pub acr: &'static str,
    /// How many different methods.
    pub methods: usize,
    /// Method ids of which one must be passed (empty: any).
    pub one_of: Vec<&'static str>,
}

/// The login methods on offer, in page order; the first is the one a form without `method` means.
pub struct Methods {
    list: Vec<Box<dyn LoginMethod>>,
    levels: Vec<Level>,
}

impl Methods {
    /// The methods, in page order. Refused: none, an invalid id, the same id twice.
    pub fn new(list: Vec<Box<dyn LoginMethod>>) -> Result<Methods, String> {
        if list.is_empty() {
            return Err("at least one login method is needed".into());
        }
        if !list[0].first_factor() {
            return Err(format!(
                "the first login method ({:?}) must be able to sign a user in on its own",
                list[0].id()
            ));
        }
        let mut ids = BTreeSet::new();
        for m in &list {
            if !valid_method_id(m.id()) {
                return Err(format!("invalid login method id {:?}", m.id()));
            }
            if !ids.insert(m.id()) {
                return Err(format!("login method {:?} is listed twice", m.id()));
            }
            for r in m.recorded_ids() {
                if !valid_method_id(r) || !ids.insert(r) {
                    return Err(format!("invalid or repeated recorded id {r:?}"));
                }
            }
        }
        Ok(Methods {
            list,
            levels: Vec::new(),
        })
    }

    /// These methods with the configured authentication levels (a level naming a method that is not offered is
    /// refused; a level may redefine [`MFA_ACR`]). The level values live as long as the process.
    pub fn with_levels(mut self, levels: &[crate::config::AcrLevel]) -> Result<Methods, String> {
        for l in levels {
            for id in &l.one_of {
                if self.get(id).is_none() {
                    return Err(format!(
                        "acr_levels: {:?} names {id:?}, which is not a login method here",
                        l.acr
                    ));
                }
            }
            let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
            let one_of: Vec<&'static str> = l
                .one_of
                .iter()
                .filter_map(|id| self.get(id).map(|m| m.id()))
                .collect();
            self.levels.retain(|x| x.acr != l.acr);
            self.levels.push(Level {
                acr: leak(&l.acr),
                methods: l.methods,
                one_of,
            });
        }
        Ok(self)
    }

    /// The configured level named `acr`, if any.
    pub fn level(&self, acr: &str) -> Option<&Level> {
        self.levels.iter().find(|l| l.acr == acr)
    }

    /// The ids of the methods `record` passed (each method once, whatever variant was recorded).
    fn passed_ids(&self, record: &AuthRecord) -> BTreeSet<&'static str> {
        record
            .steps()
            .iter()
            .filter_map(|s| self.recorded(&s.method))
            .map(|m| m.id())
            .collect()
    }

    /// The methods that would bring `record` closer to `level`: those of `one_of` while none of them was
    /// passed, else any not passed yet.
    pub fn level_step(&self, record: &AuthRecord, level: &Level) -> Vec<&dyn LoginMethod> {
        let passed = self.passed_ids(&self.counted_for(record, level.acr));
        let has_one_of =
            level.one_of.is_empty() || level.one_of.iter().any(|id| passed.contains(id));
        self.iter()
            .filter(|m| !passed.contains(m.id()))
            .filter(|m| has_one_of || level.one_of.contains(&m.id()))
            .collect()
    }

    /// One method (refused like [`new`](Self::new) refuses).
    pub fn single(m: Box<dyn LoginMethod>) -> Result<Methods, String> {
        Methods::new(vec![m])
    }

    /// The password alone: the default.
    pub fn password() -> Methods {
        Methods {
            list: vec![Box::new(super::PasswordLogin)],
            levels: Vec::new(),
        }
    }

    /// The method a form without `method` means.
    pub fn primary(&self) -> &dyn LoginMethod {
        self.list[0].as_ref()
    }

    /// A method by id.
    pub fn get(&self, id: &str) -> Option<&dyn LoginMethod> {
        self.list.iter().find(|m| m.id() == id).map(|m| m.as_ref())
    }

    /// Every method, in page order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn LoginMethod> {
        self.list.iter().map(|m| m.as_ref())
    }

    /// The method a recorded step names: by its id, or by one of the ids it records a pass under
    /// ([`LoginMethod::recorded_ids`]).
    pub fn recorded(&self, id: &str) -> Option<&dyn LoginMethod> {
        self.list
            .iter()
            .find(|m| m.id() == id || m.recorded_ids().contains(&id))
            .map(|m| m.as_ref())
    }

    /// The steps of `record` that count towards `acr` (see [`LoginMethod::counts_for`]; unknown methods count
    /// for nothing).
    pub fn counted_for(&self, record: &AuthRecord, acr: &str) -> AuthRecord {
        let mut out = AuthRecord::default();
        for s in record.steps() {
            if self
                .recorded(&s.method)
                .is_some_and(|m| m.counts_for(&s.method, acr))
            {
                out = out.with(&s.method, s.at);
            }
        }
        out
    }

    /// The factors the passed methods prove (unknown methods prove nothing).
    pub fn factors(&self, record: &AuthRecord) -> BTreeSet<Factor> {
        record
            .steps()
            .iter()
            .filter_map(|s| self.recorded(&s.method))
            .map(|m| m.factor())
            .collect()
    }

    /// Whether some set of these methods can produce `acr`.
    pub fn can_produce(&self, acr: &str) -> bool {
        if let Some(l) = self.level(acr) {
            return self.list.len() >= l.methods;
        }
        if acr == SECOND_FACTOR_ACR {
            return self.iter().any(|m| m.factor() != Factor::Knowledge);
        }
        if acr == MFA_ACR {
            let factors: BTreeSet<Factor> = self.iter().map(|m| m.factor()).collect();
            return factors.len() >= 2;
        }
        self.iter().any(|m| produces(m, acr))
    }

    /// Whether `record` satisfies `acr` (counting only the steps that count towards it).
    pub fn satisfies(&self, record: &AuthRecord, acr: &str) -> bool {
        let record = &self.counted_for(record, acr);
        if let Some(l) = self.level(acr) {
            let passed = self.passed_ids(record);
            return passed.len() >= l.methods
                && (l.one_of.is_empty() || l.one_of.iter().any(|id| passed.contains(id)));
        }
        if acr == SECOND_FACTOR_ACR {
            return self.factors(record).iter().any(|f| *f != Factor::Knowledge);
        }
        if acr == MFA_ACR {
            return self.factors(record).len() >= 2;
        }
        record
            .steps()
            .iter()
            .filter_map(|s| self.recorded(&s.method))
            .any(|m| produces(m, acr))
    }

    /// The `acr_values_supported` of discovery: each method's, then [`MFA_ACR`] when it can be produced.
    pub fn acr_values_supported(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for m in self.iter() {
            for acr in std::iter::once(m.acr()).chain(m.other_acrs().iter().copied()) {
                if !out.contains(&acr) {
                    out.push(acr);
                }
            }
        }
        if self.can_produce(MFA_ACR) && !out.contains(&MFA_ACR) {
            out.push(MFA_ACR);
        }
        for l in &self.levels {
            if self.can_produce(l.acr) && !out.contains(&l.acr) {
                out.push(l.acr);
            }
        }
        if self.can_produce(SECOND_FACTOR_ACR) {
            out.push(SECOND_FACTOR_ACR);
        }
        out
    }

    /// Every `amr` value an ID token may carry (RFC 8176): each method's, its variants', and `mfa` when two
    /// factors can be combined (at the provider, or with a relying party's own first factor).
    pub fn amr_values(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for m in self.iter() {
            let variants = std::iter::once(m.id()).chain(m.recorded_ids().iter().copied());
            for a in variants.flat_map(|v| m.amr_of(v).iter().copied()) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        if self.can_produce(MFA_ACR) || self.can_produce(SECOND_FACTOR_ACR) {
            out.push("mfa");
        }
        out
    }

    /// The `acr` for an ID token: the first of `wanted` that `record` satisfies; otherwise [`MFA_ACR`] for two
    /// factors, else the newest method's own.
    pub fn acr(&self, record: &AuthRecord, wanted: &[&str]) -> &'static str {
        if let Some(w) = wanted.iter().find(|w| self.satisfies(record, w)) {
            if let Some(l) = self.level(w) {
                return l.acr;
            }
            if *w == MFA_ACR {
                return MFA_ACR;
            }
            if *w == SECOND_FACTOR_ACR {
                return SECOND_FACTOR_ACR;
            }
            let known = self
                .iter()
                .flat_map(|m| std::iter::once(m.acr()).chain(m.other_acrs().iter().copied()))
                .find(|a| a == w);
            if let Some(a) = known {
                return a;
            }
        }
        if self.satisfies(record, MFA_ACR) {
            return MFA_ACR;
        }
        // The newest step's own `acr`, as that pass may claim it (a synced passkey where only device-bound ones
        // count for the passkey `acr` claims less).
        record
            .steps()
            .iter()
            .rev()
            .find_map(|s| self.recorded(&s.method).map(|m| m.acr_of(&s.method)))
            .unwrap_or(self.primary().acr())
    }

    /// The `amr` values of `record` (RFC 8176), in the order passed, with `mfa` for two factors.
    pub fn amr(&self, record: &AuthRecord) -> Vec<&'static str> {
        self.amr_for(record, false)
    }

    /// [`amr`](Self::amr), with `mfa` also when the relying party declared a first factor of its own
    /// (`declared_first_factor`: the `acr` is [`SECOND_FACTOR_ACR`]).
    pub fn amr_for(&self, record: &AuthRecord, declared_first_factor: bool) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for s in record.steps() {
            let Some(m) = self.recorded(&s.method) else {
                continue;
            };
            for a in m.amr_of(&s.method) {
                if !out.contains(a) {
                    out.push(a);
                }
            }
        }
        // As the acr counts them: a pass the policy keeps from `mfa` does not make `amr` say it either.
        let factors = self.factors(&self.counted_for(record, MFA_ACR)).len()
            + usize::from(declared_first_factor);
        if factors >= 2 && !out.contains(&"mfa") {
            out.push("mfa");
        }
        out
    }

    /// What a grant keeps of an authentication for its ID tokens: the `acr`, then the `amr` values, separated
    /// by spaces (see [`summary_parts`](Self::summary_parts)).
    pub fn summary(&self, record: &AuthRecord, wanted: &[&str]) -> String {
        let acr = self.acr(record, wanted);
        let mut s = acr.to_owned();
        for a in self.amr_for(record, acr == SECOND_FACTOR_ACR) {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    /// What a grant keeps: the [`summary`](Self::summary), or `None` when it is the primary method's alone
    /// (the usual case: nothing to store, and [`summary_parts`](Self::summary_parts) gives it back).
    pub fn grant_summary(&self, record: &AuthRecord, wanted: &[&str]) -> Option<String> {
        let s = self.summary(record, wanted);
        let primary = self.primary();
        let alone = primary.amr().len() == s.split(' ').count() - 1
            && s.split(' ').next() == Some(primary.acr())
            && s.split(' ')
                .skip(1)
                .zip(primary.amr())
                .all(|(a, b)| a == *b);
        (!alone).then_some(s)
    }

    /// The `acr` and `amr` of a grant's [`summary`](Self::summary); for a grant without one (the primary
    /// method alone, or a grant made before grants kept it), those of the primary method. Borrows; allocates
    /// only the list.
    pub fn summary_parts<'a>(&'a self, summary: Option<&'a str>) -> (&'a str, Vec<&'a str>) {
        match summary {
            Some(s) => {
                let mut parts = s.split(' ');
                let acr = parts.next().unwrap_or_default();
                (acr, parts.collect())
            }
            None => (self.primary().acr(), self.primary().amr().to_vec()),
        }
    }

    /// [`grant_summary`](Self::grant_summary) of a session's stored record (see [`AuthRecord::parse`]) for a
    /// request that wants `wanted`, counting the steps passed since `since`. Without wanted values and with
    /// only the primary method passed (the usual login), `None` without parsing anything.
    pub fn grant_summary_of(
        &self,
        stored: &str,
        auth_time: i64,
        wanted: &[&str],
        since: Option<i64>,
    ) -> Option<String> {
        let primary = self.primary().id();
        let only_primary = stored.is_empty()
            || stored
                .split(' ')
                .all(|e| e.split_once('@').is_some_and(|(m, _)| m == primary));
        if wanted.is_empty() && only_primary {
            return None;
        }
        let record = if stored.is_empty() {
            AuthRecord::single(primary, auth_time)
        } else {
            AuthRecord::parse(stored)
        };
        // What counts; should nothing count, the whole record (never an acr of a method nobody passed).
        let record = match since.map(|t| record.since(t)) {
            Some(counted) if !counted.is_empty() => counted,
            _ => record,
        };
        self.grant_summary(&record, wanted)
    }
}
