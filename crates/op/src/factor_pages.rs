//! The pages of the step-up factors, as askama templates (`templates/factor*.html`, `account_factors.html`):
//! the factor methods' inputs, the `/Factor/Authenticate` page and the account's factor page. Every value is
//! escaped by the templates; the QR code is an SVG the `qrcode` crate drew from the `otpauth://` URI.
//!
//! Must not: choose when a page is shown or set headers (the handlers and [`crate::http`] do).

use askama::Template;
use qrcode::QrCode;
use qrcode::render::svg;

pub use crate::templates::MethodSection;
use crate::templates::render;

#[derive(Template)]
#[template(path = "factor_app_code.html")]
struct AppCodeInputs<'a> {
    username: &'a str,
}

#[derive(Template)]
#[template(path = "factor_send.html")]
struct SendButton<'a> {
    method: &'a str,
    label: &'a str,
}

#[derive(Template)]
#[template(path = "factor_code.html")]
struct CodeInputs<'a> {
    destination: &'a str,
    label: &'a str,
}

#[derive(Template)]
#[template(path = "factor_second_password.html")]
struct SecondPasswordInputs<'a> {
    username: &'a str,
}

/// `factor.html`: the `/Factor/Authenticate` page.
#[derive(Template)]
#[template(path = "factor.html")]
pub struct FactorPage<'a> {
    /// The pending request (a hidden field).
    pub pending: &'a str,
    /// Its CSRF token (a hidden field).
    pub csrf: &'a str,
    /// The application's name.
    pub client_name: &'a str,
    /// The factors asked for, as pages name them.
    pub asked: &'a [&'a str],
    /// Those passed so far.
    pub passed: &'a [&'a str],
    /// Why the last attempt failed.
    pub error: Option<&'a str>,
    /// One form per method offered now.
    pub sections: &'a [MethodSection<'a>],
}

/// A pending authenticator-app set-up on the account page.
pub struct AppSetup {
    /// The `otpauth://` URI.
    pub uri: String,
    /// The seed, base32 (to type by hand).
    pub secret: String,
    /// The URI as a QR code (SVG).
    pub qr_svg: String,
}

/// An address or number factor on the account page.
pub struct ChannelItem {
    /// `email` or `sms`.
    pub id: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// The label of the new-destination input.
    pub input_label: &'static str,
    /// `email` or `tel`.
    pub input_type: &'static str,
    /// The verified destination (masked), if any.
    pub current: Option<String>,
    /// A destination being verified (masked): a code was sent there.
    pub verifying: Option<String>,
}

/// `account_factors.html`.
#[derive(Template)]
#[template(path = "account_factors.html")]
pub struct AccountFactorsPage<'a> {
    /// Whether a change needs a pass of one of the user's factors first (shown as a link to do it).
    pub needs_confirm: bool,
    /// The user's name.
    pub username: &'a str,
    /// What the last change did or why it was refused.
    pub message: Option<&'a str>,
    /// The session-bound CSRF token of every form.
    pub csrf: &'a str,
    /// Whether an authenticator app is set up.
    pub has_app: bool,
    /// A set-up waiting for its first code.
    pub setup: Option<AppSetup>,
    /// E-mail and phone.
    pub channels: &'a [ChannelItem],
    /// Whether a second password is set.
    pub has_second_password: bool,
}

/// The authenticator-app method's inputs.
pub fn app_code_inputs(username: &str) -> String {
    render(&AppCodeInputs { username })
}

/// A code method's first step: the button that sends a code.
pub fn send_code_button(method: &str, label: &str) -> String {
    render(&SendButton { method, label })
}

/// A code method's second step: the input for the code sent to `destination` (masked).
pub fn code_inputs(destination: &str, label: &str) -> String {
    render(&CodeInputs { destination, label })
}

/// The second-password method's inputs.
pub fn second_password_inputs(username: &str) -> String {
    render(&SecondPasswordInputs { username })
}

/// `uri` as an SVG QR code (medium error correction), or `None` when it does not fit one.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Inline in the page: the SVG element alone, without the XML declaration.
    svg.find("<svg").map(|at| svg[at..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_escape_what_they_show() {
        let html = app_code_inputs("a\"><script>");
        assert!(
            html.contains("value=\"a&quot;&gt;&lt;script&gt;\""),
            "{html}"
        );
        let html = code_inputs("<j***@x>", "e-mail");
        assert!(html.contains("&lt;j***@x&gt;"), "{html}");
    }

    #[test]
    fn qr_code_is_an_svg() {
        let svg =
            qr_svg("otpauth://totp/Portcullis:alice?secret=JBSWY3DPEHPK3PXP&issuer=Portcullis")
                .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("</svg>"));
        assert!(!svg.contains("<script"));
    }
}
