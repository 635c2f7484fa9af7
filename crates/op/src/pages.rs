//! The provider's pages by name, for the handlers: each function fills one template of [`crate::templates`]
//! (askama, every value escaped there) and returns the HTML. No HTML is written here. The pages load nothing
//! external and are served with a strict Content-Security-Policy, `X-Frame-Options: DENY` and
//! `Cache-Control: no-store`.
//!
//! Must not: write HTML or set headers (the templates and [`crate::http`] do).

use portcullis_oidc::Params;

use crate::templates::{
    ConsentPage, ContinuePage, ErrorPage, FederationButtons, FormPostPage, LoggedOutPage,
    LoginPage, LogoutConfirmPage, PasswordInputs, SelectAccountsPage, render,
};
pub use crate::templates::{MethodSection, UpstreamLinkPage};

/// The login page: one form per method in `sections`; `error` is shown above them.
pub fn login(
    pending: &str,
    csrf: &str,
    client_name: &str,
    error: Option<&str>,
    sections: &[MethodSection<'_>],
) -> String {
    render(&LoginPage {
        pending,
        csrf,
        client_name,
        error,
        sections,
    })
}

/// The password method's inputs on the login page.
pub fn password_inputs(login_hint: Option<&str>) -> String {
    render(&PasswordInputs {
        login_hint: login_hint.unwrap_or(""),
    })
}

/// The login bridge's buttons on the login page: `(id, name)` per site.
pub fn bridge_buttons(sites: &[(String, String)]) -> String {
    render(&FederationButtons {
        intro: "Or continue with your account at:",
        action: "/bridge/start",
        field: "site",
        sites,
    })
}

/// The upstream providers' buttons on the login page: `(id, name)` per provider.
pub fn upstream_buttons(upstreams: &[(String, String)]) -> String {
    render(&FederationButtons {
        intro: "Or sign in with:",
        action: "/upstream/start",
        field: "upstream",
        sites: upstreams,
    })
}

/// The identity-provider selector for a client named `client_name`, offering `idps` (`(id, name, link)`).
pub fn select_accounts(client_name: &str, idps: &[(String, String, String)]) -> String {
    render(&SelectAccountsPage { client_name, idps })
}

/// The question whether to add an upstream identity to the account signed in here.
pub fn upstream_link(page: &UpstreamLinkPage<'_>) -> String {
    render(page)
}

/// The way on to `name` at `url`, when a redirect cannot be used.
pub fn continue_to(name: &str, url: &str) -> String {
    render(&ContinuePage { name, url })
}

/// The consent form: the scopes asked for, and the user claims asked for by name.
pub fn consent(
    pending: &str,
    csrf: &str,
    client_name: &str,
    scopes: &[&str],
    claims: &[&str],
) -> String {
    render(&ConsentPage {
        pending,
        csrf,
        client_name,
        scopes,
        claims,
    })
}

/// An error page, for errors that must not be redirected (unknown client, unregistered redirect URI).
pub fn error(error: &str, description: &str) -> String {
    render(&ErrorPage { error, description })
}

/// The logout confirmation page.
pub fn logout_confirm(pending: &str, csrf: &str, client_name: Option<&str>) -> String {
    render(&LogoutConfirmPage {
        pending,
        csrf,
        client_name,
    })
}

/// After logout without a (valid) redirect.
pub fn logged_out() -> String {
    render(&LoggedOutPage)
}

/// The auto-submitting page of the `form_post` response modes: `params` as hidden fields posted to
/// `redirect_uri`.
pub fn form_post(redirect_uri: &str, params: &Params) -> String {
    render(&FormPostPage {
        redirect_uri,
        params,
    })
}
