//! A browser with two cookies (the session and the browser binding): it sends authorization requests, reads the provider's login, consent and
//! form_post pages, and submits their forms. It only reports what the provider answered (`Step`); it must
//! not decide whether that answer is right.

use std::collections::HashMap;

use reqwest::StatusCode;

use super::{PASSWORD, Target};

/// A browser: a cookie jar of the provider's two cookies.
#[derive(Default, Clone)]
pub struct Browser {
    /// `portcullis_session`.
    pub session: Option<String>,
    /// The browser binding cookie as `name=value` (`portcullis_browser`, or `__Host-portcullis_browser` over
    /// HTTPS).
    pub browser: Option<String>,
}

pub fn hidden(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

pub fn params_of(location: &str) -> HashMap<String, String> {
    let part = location
        .split_once('#')
        .map(|(_, f)| f)
        .or_else(|| location.split_once('?').map(|(_, q)| q))
        .unwrap_or("");
    form_urlencoded::parse(part.as_bytes())
        .into_owned()
        .collect()
}

/// What the provider answered to an authorization step.
#[derive(Debug)]
pub enum Step {
    Login(String),
    Consent(String),
    Redirect(String),
    FormPost(String),
    ErrorPage(StatusCode, String),
}

impl Step {
    pub fn redirect(self) -> HashMap<String, String> {
        match self {
            Step::Redirect(l) => params_of(&l),
            other => panic!("expected a redirect, got {other:?}"),
        }
    }
    pub fn location(&self) -> &str {
        match self {
            Step::Redirect(l) => l,
            other => panic!("expected a redirect, got {other:?}"),
        }
    }
}

impl Browser {
    pub async fn step(&mut self, resp: reqwest::Response) -> Step {
        let status = resp.status();
        for c in resp.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            if let Some(v) = c.strip_prefix("portcullis_session=") {
                let v = v.split(';').next().unwrap();
                self.session = (!v.is_empty()).then(|| v.to_owned());
            }
            if c.starts_with("portcullis_browser=") || c.starts_with("__Host-portcullis_browser=") {
                self.browser = Some(c.split(';').next().unwrap().to_owned());
            }
        }
        if status == StatusCode::SEE_OTHER {
            return Step::Redirect(resp.headers()["location"].to_str().unwrap().to_owned());
        }
        let body = resp.text().await.unwrap();
        if body.contains("action=\"/login\"") {
            Step::Login(body)
        } else if body.contains("action=\"/consent\"") {
            Step::Consent(body)
        } else if body.contains("document.forms[0].submit()") {
            Step::FormPost(body)
        } else {
            Step::ErrorPage(status, body)
        }
    }

    /// The `Cookie` header this browser sends, if any.
    pub fn cookie_header(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(s) = &self.session {
            parts.push(format!("portcullis_session={s}"));
        }
        if let Some(b) = &self.browser {
            parts.push(b.clone());
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    fn with_cookie(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.cookie_header() {
            Some(c) => r.header("cookie", c),
            None => r,
        }
    }

    pub async fn authorize(&mut self, op: &impl Target, query: &str) -> Step {
        let r = self.with_cookie(op.http().get(format!("{}?{query}", op.url("/authorize"))));
        let resp = r.send().await.unwrap();
        self.step(resp).await
    }

    /// Follows a redirect to an absolute URL of the provider (with this browser's cookies).
    pub async fn follow(&mut self, op: &impl Target, url: &str) -> Step {
        let resp = self.with_cookie(op.http().get(url)).send().await.unwrap();
        self.step(resp).await
    }

    pub async fn authorize_post(&mut self, op: &impl Target, body: &str) -> Step {
        let r = self.with_cookie(
            op.http()
                .post(op.url("/authorize"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_owned()),
        );
        let resp = r.send().await.unwrap();
        self.step(resp).await
    }

    pub async fn submit(
        &mut self,
        op: &impl Target,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Step {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("pending", &hidden(page, "pending").unwrap());
        form.append_pair("csrf", &hidden(page, "csrf").unwrap());
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        let r = self.with_cookie(
            op.http()
                .post(op.url(action))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.finish()),
        );
        let resp = r.send().await.unwrap();
        self.step(resp).await
    }

    pub async fn login(&mut self, op: &impl Target, page: &str, user: &str) -> Step {
        self.submit(
            op,
            page,
            "/login",
            &[("username", user), ("password", PASSWORD)],
        )
        .await
    }

    /// Drives login and consent as needed until the provider answers the client.
    pub async fn complete(&mut self, op: &impl Target, mut step: Step, user: &str) -> Step {
        for _ in 0..4 {
            step = match step {
                Step::Login(page) => self.login(op, &page, user).await,
                Step::Consent(page) => {
                    self.submit(op, &page, "/consent", &[("decision", "allow")])
                        .await
                }
                done => return done,
            };
        }
        panic!("no answer after login and consent")
    }
}
