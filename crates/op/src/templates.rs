//! The provider's HTML pages as askama templates (`crates/op/templates/`): one typed struct per page, checked
//! at compile time, every value escaped by askama when it is written. This module owns the page structs, their
//! render functions and the escaper the templates use; it does not choose when a page is shown nor set headers
//! (the handlers and [`crate::http`] do: CSP, `X-Frame-Options`, `Cache-Control`).
//!
//! Must not: hand a value to a page unescaped, except a login method's inputs, which its own template escaped.

use core::fmt;

use askama::Template;
use portcullis_oidc::Params;

/// The escaper of the `.html` templates (named in `askama.toml`): `&`, `<`, `>`, `"` and `'` become `&amp;`,
/// `&lt;`, `&gt;`, `&quot;` and `&#x27;`. The same five characters as askama's own HTML escaper, written as
/// the named entities the provider's pages have always carried (askama's are numeric, `&#38;`), so what
/// clients and scripts read out of a page does not change.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlEntities;

impl askama::filters::Escaper for HtmlEntities {
    fn write_escaped_str<W: fmt::Write>(&self, mut dest: W, s: &str) -> fmt::Result {
        let mut last = 0;
        for (i, b) in s.bytes().enumerate() {
            let entity = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#x27;",
                _ => continue,
            };
            dest.write_str(&s[last..i])?;
            dest.write_str(entity)?;
            last = i + 1;
        }
        dest.write_str(&s[last..])
    }
}

/// `s` escaped for HTML element content and quoted attributes, exactly as the templates escape it; for
/// fragments built outside the templates (a custom [`LoginMethod`](crate::authn::LoginMethod)).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    askama::filters::Escaper::write_escaped_str(&HtmlEntities, &mut out, s)
        .expect("writing to a String cannot fail");
    out
}

/// One login method's form on the login page ([`LoginPage`]).
pub struct MethodSection<'a> {
    /// The method's id (the `method` field).
    pub method: &'a str,
    /// For a multi-step method's first step: the form begins the ceremony (`step=begin`).
    pub begin: bool,
    /// For a multi-step method's second step: the ceremony it finishes.
    pub ceremony: Option<&'a str>,
    /// The method's inputs and button: HTML rendered by the method from its own template (every value escaped
    /// there); written into the page as it is.
    pub inputs: String,
}

/// `login.html`: one form per login method, each posting `pending`, `csrf` and `method` (and the method's own
/// fields) to `/login`.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// The pending authorization request (a hidden field).
    pub pending: &'a str,
    /// Its CSRF token (a hidden field).
    pub csrf: &'a str,
    /// The client's display name, in the heading.
    pub client_name: &'a str,
    /// Why the last attempt failed, shown above the forms with `role="alert"`.
    pub error: Option<&'a str>,
    /// The methods offered, in page order.
    pub sections: &'a [MethodSection<'a>],
}

/// `password.html`: the password method's inputs (username, password, the sign-in button).
#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordInputs<'a> {
    /// The username field's initial value (`login_hint`, or the name typed before), empty for none.
    pub login_hint: &'a str,
}

/// `federation_buttons.html`: a federation method's buttons, one per login-bridge site or upstream provider.
#[derive(Template)]
#[template(path = "federation_buttons.html")]
pub struct FederationButtons<'a> {
    /// The line above the buttons.
    pub intro: &'a str,
    /// Where the buttons post the form.
    pub action: &'a str,
    /// The field naming the choice (`site`, `upstream`).
    pub field: &'a str,
    /// Each choice's id and name.
    pub sites: &'a [(String, String)],
}

/// `select_accounts.html`: the identity-provider selector.
#[derive(Template)]
#[template(path = "select_accounts.html")]
pub struct SelectAccountsPage<'a> {
    /// The client's name.
    pub client_name: &'a str,
    /// Each identity provider's id, name, and the link that chooses it.
    pub idps: &'a [(String, String, String)],
}

/// `upstream_link.html`: whether to add an upstream identity to the account signed in here.
#[derive(Template)]
#[template(path = "upstream_link.html")]
pub struct UpstreamLinkPage<'a> {
    /// The upstream's name.
    pub upstream: &'a str,
    /// Who the upstream says the user is.
    pub who: &'a str,
    /// The account signed in here.
    pub account: &'a str,
    /// The link question's id (a hidden field).
    pub pending: &'a str,
    /// Its CSRF token, bound to the session (a hidden field).
    pub csrf: &'a str,
}

/// `continue.html`: the way on to another site when a redirect cannot be used.
#[derive(Template)]
#[template(path = "continue.html")]
pub struct ContinuePage<'a> {
    /// Where to.
    pub name: &'a str,
    /// The address.
    pub url: &'a str,
}

/// `consent.html`: the scopes a client asks for, and Allow / Deny buttons posting `decision` to `/consent`.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    /// The pending authorization request (a hidden field).
    pub pending: &'a str,
    /// Its CSRF token (a hidden field).
    pub csrf: &'a str,
    /// The client's display name, in the heading.
    pub client_name: &'a str,
    /// The scopes asked for, one list item each.
    pub scopes: &'a [&'a str],
    /// The user claims asked for by name (the `claims` request, OIDC Core §5.5), one list item each; the list
    /// is left out when there are none.
    pub claims: &'a [&'a str],
}

/// `error.html`: an error that must not be redirected (unknown client, unregistered redirect URI).
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// The error code (`#error`).
    pub error: &'a str,
    /// What went wrong (`#error_description`).
    pub description: &'a str,
}

/// `passkey_button.html`: the passkey method's first form (an optional username, the button).
#[derive(Template)]
#[template(path = "passkey_button.html")]
pub struct PasskeyButton<'a> {
    /// The username field's initial value.
    pub login_hint: &'a str,
    /// Whether the user is known already (step-up): then no username field.
    pub named_user: bool,
}

/// `passkey_assertion.html`: the passkey method's second form (the options for the browser, the assertion
/// field `/passkey.js` fills).
#[derive(Template)]
#[template(path = "passkey_assertion.html")]
pub struct PasskeyAssertion<'a> {
    /// The WebAuthn request options, JSON (escaped into an attribute).
    pub options: &'a str,
}

/// `passkey_conditional.html`: passkey autofill on the first login page (a ceremony begun with the page).
#[derive(Template)]
#[template(path = "passkey_conditional.html")]
pub struct PasskeyConditional<'a> {
    /// The WebAuthn request options, JSON (escaped into an attribute).
    pub options: &'a str,
}

/// One passkey on the account page.
pub struct PasskeyItem {
    /// Its credential id (base64url).
    pub id: String,
    /// Its name.
    pub name: String,
    /// "attested", "synced" or "device-bound".
    pub kind: &'static str,
    /// When it was created (an HTTP date, UTC).
    pub created: String,
    /// When it was last used, or "never".
    pub last_used: String,
    /// Whether it is refused as a possible clone.
    pub suspect: bool,
}

/// `account.html`: the signed-in user's ways to sign in.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    /// The user's name.
    pub username: &'a str,
    /// Whether the user has a password.
    pub has_password: bool,
    /// Whether attested passkeys (security keys of a trusted make) can be added.
    pub attestation: bool,
    /// The passkeys, oldest first.
    pub passkeys: &'a [PasskeyItem],
    /// The applications the user consented to.
    pub apps: &'a [crate::endpoints::account_apps::AppItem],
    /// The CSRF token (bound to the session) of every form.
    pub csrf: &'a str,
    /// What the last change did or why it was refused.
    pub message: Option<&'a str>,
}

/// `account_passkey.html`: create a passkey from the account page.
#[derive(Template)]
#[template(path = "account_passkey.html")]
pub struct AccountPasskeyPage<'a> {
    /// The user's name.
    pub username: &'a str,
    /// The ceremony's holder (a hidden field).
    pub pending: &'a str,
    /// Its CSRF token (a hidden field).
    pub csrf: &'a str,
    /// The ceremony id (a hidden field).
    pub ceremony: &'a str,
    /// The WebAuthn creation options, JSON (escaped into an attribute).
    pub options: &'a str,
}

/// `register.html`: create a passkey for the account a relying party asked for (prompt=create).
#[derive(Template)]
#[template(path = "register.html")]
pub struct RegisterPage<'a> {
    /// The pending authorization request (a hidden field).
    pub pending: &'a str,
    /// Its CSRF token (a hidden field).
    pub csrf: &'a str,
    /// The ceremony id (a hidden field).
    pub ceremony: &'a str,
    /// The client's display name.
    pub client_name: &'a str,
    /// The relying party's identifier for the account (its `login_hint`).
    pub account: &'a str,
    /// The WebAuthn creation options, JSON (escaped into an attribute).
    pub options: &'a str,
}

/// `logout_confirm.html`: asks the user whether to sign out (RP-Initiated Logout §2), posting the pending
/// logout's id and CSRF token to `/end_session/confirm`.
#[derive(Template)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmPage<'a> {
    /// The pending logout (a hidden field).
    pub pending: &'a str,
    /// Its CSRF token (a hidden field).
    pub csrf: &'a str,
    /// The display name of the client that asks, when known.
    pub client_name: Option<&'a str>,
}

/// `logged_out.html`: after logout without a (valid) redirect.
#[derive(Template)]
#[template(path = "logged_out.html")]
pub struct LoggedOutPage;

/// `form_post.html`: the auto-submitting page of the `form_post` response modes (Form Post Response Mode §2),
/// one hidden field per parameter, posted to the client's redirect URI on load (a `Continue` button without
/// script).
#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    /// Where the form posts: the client's redirect URI.
    pub redirect_uri: &'a str,
    /// The response parameters, in their order.
    pub params: &'a Params,
}

/// Renders a page. The templates write only `&str` values, whose `Display` cannot fail.
pub fn render(page: &impl Template) -> String {
    page.render()
        .expect("the page templates write only strings")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inline style every page of the layout carries (PAGE_CSP allows inline style, nothing external).
    const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}\
        h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.4rem}\
        button{margin-top:1rem;padding:.5rem 1.2rem}.err{color:#a00}ul{padding-left:1.2rem}";

    const HOSTILE: &str = "\"><script>alert('x')</script>&amp;";
    const HOSTILE_ESCAPED: &str =
        "&quot;&gt;&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;amp;";

    /// The login page with the password method alone.
    fn password_page(
        pending: &str,
        csrf: &str,
        client_name: &str,
        login_hint: &str,
        error: Option<&str>,
    ) -> String {
        render(&LoginPage {
            pending,
            csrf,
            client_name,
            error,
            sections: &[MethodSection {
                method: "password",
                begin: false,
                ceremony: None,
                inputs: render(&PasswordInputs { login_hint }),
            }],
        })
    }

    #[test]
    fn login_page_has_a_form_per_method_with_its_hidden_fields() {
        let html = render(&LoginPage {
            pending: "p",
            csrf: "c",
            client_name: "Demo",
            error: None,
            sections: &[
                MethodSection {
                    method: "password",
                    begin: false,
                    ceremony: None,
                    inputs: "<i>pw</i>".into(),
                },
                MethodSection {
                    method: "code",
                    begin: true,
                    ceremony: None,
                    inputs: "<i>send</i>".into(),
                },
                MethodSection {
                    method: HOSTILE,
                    begin: false,
                    ceremony: Some(HOSTILE),
                    inputs: String::new(),
                },
            ],
        });
        assert_eq!(
            html.matches("<form method=\"post\" action=\"/login\">")
                .count(),
            3
        );
        assert_eq!(html.matches("name=\"pending\" value=\"p\"").count(), 3);
        assert!(html.contains(
            "name=\"method\" value=\"code\">\n<input type=\"hidden\" name=\"step\" value=\"begin\">"
        ));
        assert_eq!(html.matches("name=\"step\"").count(), 1);
        assert!(html.contains(&format!("name=\"method\" value=\"{HOSTILE_ESCAPED}\">")));
        assert!(html.contains(&format!("name=\"ceremony\" value=\"{HOSTILE_ESCAPED}\">")));
        assert!(
            html.contains("<i>pw</i>") && html.contains("<i>send</i>"),
            "inputs as rendered"
        );
    }

    fn assert_layout(html: &str, title: &str) {
        assert!(
            html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
            "{html}"
        );
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("<meta name=\"viewport\" content=\"width=device-width\">"));
        assert!(html.contains(&format!("<title>{title}</title>")), "{html}");
        assert!(html.contains(&format!("<style>{STYLE}</style>")), "{html}");
        assert!(html.trim_end().ends_with("</body>\n</html>"), "{html}");
        assert!(
            !html.contains("<script"),
            "no page of the layout has a script"
        );
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|&(k, v)| (k, v.into())))
    }

    #[test]
    fn escape_html_escapes_the_five_characters_as_named_entities() {
        assert_eq!(
            escape_html("a&b<c>d\"e'f é"),
            "a&amp;b&lt;c&gt;d&quot;e&#x27;f é"
        );
        assert_eq!(escape_html(""), "");
        assert_eq!(
            escape_html("plain-base64url_Value"),
            "plain-base64url_Value"
        );
    }

    #[test]
    fn login_page_renders_the_form() {
        let html = password_page("p1", "c1", "Demo", "alice", None);
        assert_layout(&html, "Sign in");
        assert!(html.contains("<h1>Sign in to continue to Demo</h1>"));
        assert!(html.contains("<form method=\"post\" action=\"/login\">"));
        assert!(html.contains("<input type=\"hidden\" name=\"pending\" value=\"p1\">"));
        assert!(html.contains("<input type=\"hidden\" name=\"csrf\" value=\"c1\">"));
        assert!(html.contains("<label for=\"username\">Username</label>"));
        assert!(html.contains(
            "<input type=\"text\" id=\"username\" name=\"username\" value=\"alice\" \
             autocomplete=\"username webauthn\" required autofocus>"
        ));
        assert!(html.contains("<label for=\"password\">Password</label>"));
        assert!(html.contains(
            "<input type=\"password\" id=\"password\" name=\"password\" \
             autocomplete=\"current-password\" required>"
        ));
        assert!(html.contains("<button type=\"submit\" id=\"signin\">Sign in</button>"));
        assert!(!html.contains("role=\"alert\""), "no error, no alert");
        // The fields in the order the form has always had.
        let order = [
            "name=\"pending\"",
            "name=\"csrf\"",
            "name=\"username\"",
            "name=\"password\"",
        ];
        let at: Vec<usize> = order.iter().map(|n| html.find(n).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{html}");
    }

    #[test]
    fn login_page_shows_the_error_as_an_alert_above_the_form() {
        let html = password_page("p", "c", "Demo", "", Some("Wrong username or password."));
        let alert = html
            .find("<p class=\"err\" role=\"alert\">Wrong username or password.</p>")
            .expect("the alert");
        assert!(alert < html.find("<form").unwrap());
        assert!(html.contains("name=\"username\" value=\"\" autocomplete"));
    }

    #[test]
    fn consent_page_lists_the_scopes_and_offers_allow_and_deny() {
        let html = render(&ConsentPage {
            pending: "p2",
            csrf: "c2",
            client_name: "Demo",
            scopes: &["openid", "email"],
            claims: &[],
        });
        assert_layout(&html, "Allow access");
        assert!(html.contains("<h1>Demo wants access to your account</h1>"));
        assert!(html.contains("<p>It asks for:</p>"));
        assert!(
            html.contains("<ul>\n<li>openid</li>\n<li>email</li>\n</ul>"),
            "{html}"
        );
        assert!(html.contains("<form method=\"post\" action=\"/consent\">"));
        assert!(html.contains("<input type=\"hidden\" name=\"pending\" value=\"p2\">"));
        assert!(html.contains("<input type=\"hidden\" name=\"csrf\" value=\"c2\">"));
        assert!(html.contains(
            "<button type=\"submit\" name=\"decision\" value=\"allow\" id=\"allow\">Allow</button>"
        ));
        assert!(html.contains(
            "<button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button>"
        ));
    }

    #[test]
    fn error_and_logged_out_pages_render() {
        let html = render(&ErrorPage {
            error: "invalid_request",
            description: "unknown client",
        });
        assert_layout(&html, "Error");
        assert!(html.contains("<h1>The request cannot be completed</h1>"));
        assert!(html.contains("<p><code id=\"error\">invalid_request</code></p>"));
        assert!(html.contains("<p id=\"error_description\">unknown client</p>"));

        let html = render(&LoggedOutPage);
        assert_layout(&html, "Signed out");
        assert!(
            html.contains("<body>\n<h1>You are signed out</h1>\n</body>"),
            "{html}"
        );
    }

    #[test]
    fn hostile_values_are_escaped_in_content_and_attributes() {
        let pages = [
            password_page(HOSTILE, HOSTILE, HOSTILE, HOSTILE, Some(HOSTILE)),
            render(&ConsentPage {
                pending: HOSTILE,
                csrf: HOSTILE,
                client_name: HOSTILE,
                scopes: &[HOSTILE],
                claims: &[HOSTILE],
            }),
            render(&ErrorPage {
                error: HOSTILE,
                description: HOSTILE,
            }),
        ];
        for html in &pages {
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("'x'"), "{html}");
        }
        let [login, consent, error] = &pages;
        // Attributes: each value stays inside its quotes.
        for name in ["pending", "csrf"] {
            let field = format!("name=\"{name}\" value=\"{HOSTILE_ESCAPED}\">");
            assert!(login.contains(&field), "{login}");
            assert!(consent.contains(&field), "{consent}");
        }
        assert!(login.contains(&format!(
            "name=\"username\" value=\"{HOSTILE_ESCAPED}\" autocomplete"
        )));
        // Content.
        assert!(login.contains(&format!(
            "<h1>Sign in to continue to {HOSTILE_ESCAPED}</h1>"
        )));
        assert!(login.contains(&format!("role=\"alert\">{HOSTILE_ESCAPED}</p>")));
        assert!(consent.contains(&format!("<h1>{HOSTILE_ESCAPED} wants access")));
        assert!(consent.contains(&format!("<li>{HOSTILE_ESCAPED}</li>")));
        assert!(consent.contains(&format!("<ul id=\"claims\">\n<li>{HOSTILE_ESCAPED}</li>")));
        assert!(error.contains(&format!("<code id=\"error\">{HOSTILE_ESCAPED}</code>")));
        assert!(error.contains(&format!(
            "<p id=\"error_description\">{HOSTILE_ESCAPED}</p>"
        )));
    }

    #[test]
    fn form_post_page_is_the_oidc_form_post_html() {
        let cases = [
            (
                "https://rp.example/cb",
                params(&[("code", "abc"), ("state", "xyz")]),
            ),
            (
                "https://rp.example/cb?a=1&b=\"2\"",
                params(&[("code", HOSTILE), ("state", "s&t"), (HOSTILE, "'v'")]),
            ),
            ("https://rp.example/cb", params(&[("response", "eyJ.x.y")])),
            ("https://rp.example/cb", params(&[])),
        ];
        for (uri, p) in &cases {
            let html = render(&FormPostPage {
                redirect_uri: uri,
                params: p,
            });
            // Byte for byte, but for the file's final newline (askama drops a template's last newline).
            assert_eq!(format!("{html}\n"), portcullis_oidc::form_post_html(uri, p));
        }
    }

    #[test]
    fn form_post_page_posts_every_parameter_in_order_and_submits_itself() {
        let p = params(&[("code", "c"), ("iss", "https://op.example"), ("state", "s")]);
        let html = render(&FormPostPage {
            redirect_uri: "https://rp.example/cb?x=1&y=2",
            params: &p,
        });
        assert!(html.contains("<title>Submit This Form</title>"));
        assert!(html.contains("<body onload=\"javascript:document.forms[0].submit()\">"));
        assert!(
            html.contains("<form method=\"post\" action=\"https://rp.example/cb?x=1&amp;y=2\">\n")
        );
        assert!(html.contains(
            "<input type=\"hidden\" name=\"code\" value=\"c\"/>\n\
             <input type=\"hidden\" name=\"iss\" value=\"https://op.example\"/>\n\
             <input type=\"hidden\" name=\"state\" value=\"s\"/>\n\
             <noscript><button type=\"submit\">Continue</button></noscript>\n</form>"
        ));
        assert!(!html.contains("<style"), "FORM_POST_CSP allows no style");
    }
}
