//! Server-rendered pages. Every interpolated value goes through [`esc`]; the pages load nothing external and
//! are served with a strict Content-Security-Policy, `X-Frame-Options: DENY` and `Cache-Control: no-store`.

/// HTML-escapes text for element content and double-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.4rem}\
button{margin-top:1rem;padding:.5rem 1.2rem}.err{color:#a00}ul{padding-left:1.2rem}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n",
        esc(title)
    )
}

/// The login form (username + password). `error` is shown above the form.
pub fn login(
    pending: &str,
    csrf: &str,
    client_name: &str,
    login_hint: Option<&str>,
    error: Option<&str>,
) -> String {
    let err = error
        .map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        "Sign in",
        &format!(
            "<h1>Sign in to continue to {client}</h1>{err}\
             <form method=\"post\" action=\"/login\">\
             <input type=\"hidden\" name=\"pending\" value=\"{pending}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label for=\"username\">Username</label><input type=\"text\" id=\"username\" name=\"username\" value=\"{hint}\" autocomplete=\"username\" required autofocus>\
             <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\" id=\"signin\">Sign in</button></form>",
            client = esc(client_name),
            pending = esc(pending),
            csrf = esc(csrf),
            hint = esc(login_hint.unwrap_or("")),
        ),
    )
}

/// The consent form.
pub fn consent(pending: &str, csrf: &str, client_name: &str, scopes: &[&str]) -> String {
    let items: String = scopes
        .iter()
        .map(|s| format!("<li>{}</li>", esc(s)))
        .collect();
    page(
        "Allow access",
        &format!(
            "<h1>{client} wants access to your account</h1><p>It asks for:</p><ul>{items}</ul>\
             <form method=\"post\" action=\"/consent\">\
             <input type=\"hidden\" name=\"pending\" value=\"{pending}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\" name=\"decision\" value=\"allow\" id=\"allow\">Allow</button> \
             <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></form>",
            client = esc(client_name),
            pending = esc(pending),
            csrf = esc(csrf),
        ),
    )
}

/// An error page, for errors that must not be redirected (unknown client, unregistered redirect URI).
pub fn error(error: &str, description: &str) -> String {
    page(
        "Error",
        &format!(
            "<h1>The request cannot be completed</h1><p><code id=\"error\">{}</code></p><p id=\"error_description\">{}</p>",
            esc(error),
            esc(description)
        ),
    )
}

/// After logout without a (valid) redirect.
pub fn logged_out() -> String {
    page("Signed out", "<h1>You are signed out</h1>")
}

/// The auto-submitting form of `response_mode=form_post` (OAuth 2.0 Form Post Response Mode).
pub fn form_post(redirect_uri: &str, params: &portcullis_oidc::Params) -> String {
    portcullis_oidc::form_post_html(redirect_uri, params)
}

/// One login method's form on the login page.
pub struct MethodSection<'a> {
    /// The method's id (the `method` field).
    pub method: &'a str,
    /// For a multi-step method's first step: the form begins the ceremony (`step=begin`).
    pub begin: bool,
    /// For a multi-step method's second step: the ceremony it finishes.
    pub ceremony: Option<&'a str>,
    /// The method's inputs and button (HTML, already escaped).
    pub inputs: String,
}

/// The login page: one form per method, each posting to `/login` with the pending request, its CSRF token
/// and the method.
pub fn login_page(
    pending: &str,
    csrf: &str,
    client_name: &str,
    error: Option<&str>,
    sections: &[MethodSection<'_>],
) -> String {
    let err = error
        .map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    let forms: String = sections
        .iter()
        .map(|s| {
            format!(
                "<form method=\"post\" action=\"/login\">\
                 <input type=\"hidden\" name=\"pending\" value=\"{pending}\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"method\" value=\"{method}\">{begin}{ceremony}{inputs}</form>",
                pending = esc(pending),
                csrf = esc(csrf),
                method = esc(s.method),
                begin = if s.begin {
                    "<input type=\"hidden\" name=\"step\" value=\"begin\">"
                } else {
                    ""
                },
                ceremony = s
                    .ceremony
                    .map(|c| format!("<input type=\"hidden\" name=\"ceremony\" value=\"{}\">", esc(c)))
                    .unwrap_or_default(),
                inputs = s.inputs,
            )
        })
        .collect();
    page(
        "Sign in",
        &format!(
            "<h1>Sign in to continue to {client}</h1>{err}{forms}",
            client = esc(client_name),
        ),
    )
}

/// The password method's inputs.
pub fn password_inputs(login_hint: Option<&str>) -> String {
    format!(
        "<label for=\"username\">Username</label><input type=\"text\" id=\"username\" name=\"username\" value=\"{hint}\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\" id=\"signin\">Sign in</button>",
        hint = esc(login_hint.unwrap_or("")),
    )
}
