//! The closed sets of OAuth 2.0 and OpenID Connect, as enums that print and parse the exact wire strings.
//!
//! Must not: accept a wire value outside its closed set (no case folding, no unknown value kept), nor
//! `response_type=none` or a bare `token`.

use std::fmt;

use crate::OidcError;

/// `response_type`: a set of `code`, `id_token`, `token` (OAuth 2.0 Multiple Response Types). Only the
/// combinations OpenID Connect defines exist; the wire order does not matter, the canonical order is
/// `code id_token token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseType {
    code: bool,
    id_token: bool,
    token: bool,
}

impl ResponseType {
    /// `code` (authorization code flow).
    pub const CODE: ResponseType = ResponseType {
        code: true,
        id_token: false,
        token: false,
    };
    /// `id_token` (implicit).
    pub const ID_TOKEN: ResponseType = ResponseType {
        code: false,
        id_token: true,
        token: false,
    };
    /// `id_token token` (implicit).
    pub const ID_TOKEN_TOKEN: ResponseType = ResponseType {
        code: false,
        id_token: true,
        token: true,
    };
    /// `code id_token` (hybrid).
    pub const CODE_ID_TOKEN: ResponseType = ResponseType {
        code: true,
        id_token: true,
        token: false,
    };
    /// `code token` (hybrid).
    pub const CODE_TOKEN: ResponseType = ResponseType {
        code: true,
        id_token: false,
        token: true,
    };
    /// `code id_token token` (hybrid).
    pub const CODE_ID_TOKEN_TOKEN: ResponseType = ResponseType {
        code: true,
        id_token: true,
        token: true,
    };

    /// Whether a code is returned.
    pub fn has_code(self) -> bool {
        self.code
    }
    /// Whether an ID token is returned from the authorization endpoint.
    pub fn has_id_token(self) -> bool {
        self.id_token
    }
    /// Whether an access token is returned from the authorization endpoint.
    pub fn has_token(self) -> bool {
        self.token
    }
    /// Implicit or hybrid: anything returned in the front channel besides the code.
    pub fn is_front_channel_token(self) -> bool {
        self.id_token || self.token
    }

    /// Parses the space-separated set, in any order. Repeats, unknown values, `none` and bare `token` are
    /// [`OidcError::UnsupportedResponseType`].
    pub fn parse(s: &str) -> Result<ResponseType, OidcError> {
        let mut rt = ResponseType {
            code: false,
            id_token: false,
            token: false,
        };
        for part in s.split(' ') {
            let slot = match part {
                "code" => &mut rt.code,
                "id_token" => &mut rt.id_token,
                "token" => &mut rt.token,
                _ => return Err(OidcError::UnsupportedResponseType),
            };
            if *slot {
                return Err(OidcError::UnsupportedResponseType);
            }
            *slot = true;
        }
        // Bare `token` is plain OAuth implicit, not OpenID Connect; deprecated by RFC 9700 §2.1.2.
        if rt
            == (ResponseType {
                code: false,
                id_token: false,
                token: true,
            })
        {
            return Err(OidcError::UnsupportedResponseType);
        }
        Ok(rt)
    }

    /// The default response mode (OAuth 2.0 Multiple Response Types §5): query for `code`, fragment otherwise.
    pub fn default_mode(self) -> ResponseMode {
        if self == ResponseType::CODE {
            ResponseMode::Query
        } else {
            ResponseMode::Fragment
        }
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = [
            (self.code, "code"),
            (self.id_token, "id_token"),
            (self.token, "token"),
        ]
        .into_iter()
        .filter_map(|(on, s)| on.then_some(s))
        .collect();
        f.write_str(&parts.join(" "))
    }
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),* $(,)? } $err:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }
        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// The wire spelling.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)* }
            }
            /// Parses the exact wire spelling.
            pub fn parse(s: &str) -> Result<$name, OidcError> {
                match s { $($wire => Ok($name::$variant),)* _ => Err($err) }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// `response_mode` (OAuth 2.0 Multiple Response Types, Form Post Response Mode, JARM).
    ResponseMode {
        /// `query`
        Query => "query",
        /// `fragment`
        Fragment => "fragment",
        /// `form_post`
        FormPost => "form_post",
        /// `jwt` (JARM: query for `code`, fragment otherwise)
        Jwt => "jwt",
        /// `query.jwt`
        QueryJwt => "query.jwt",
        /// `fragment.jwt`
        FragmentJwt => "fragment.jwt",
        /// `form_post.jwt`
        FormPostJwt => "form_post.jwt",
    }
    OidcError::InvalidParameter("response_mode")
);

wire_enum!(
    /// `grant_type` at the token endpoint.
    GrantType {
        /// `authorization_code`
        AuthorizationCode => "authorization_code",
        /// `refresh_token`
        RefreshToken => "refresh_token",
        /// `client_credentials`
        ClientCredentials => "client_credentials",
    }
    OidcError::UnsupportedGrantType
);

wire_enum!(
    /// One `prompt` value (OIDC Core §3.1.2.1).
    Prompt {
        /// `none`
        None => "none",
        /// `login`
        Login => "login",
        /// `consent`
        Consent => "consent",
        /// `select_account`
        SelectAccount => "select_account",
        /// `create` (OpenID Connect Prompt Create 1.0): the user is asked to create an account
        Create => "create",
    }
    OidcError::InvalidParameter("prompt")
);

wire_enum!(
    /// `display` (OIDC Core §3.1.2.1).
    Display {
        /// `page`
        Page => "page",
        /// `popup`
        Popup => "popup",
        /// `touch`
        Touch => "touch",
        /// `wap`
        Wap => "wap",
    }
    OidcError::InvalidParameter("display")
);

wire_enum!(
    /// `token_endpoint_auth_method` (OIDC Core §9, RFC 8705).
    ClientAuthMethod {
        /// `none` (public client with PKCE)
        None => "none",
        /// `client_secret_basic`
        ClientSecretBasic => "client_secret_basic",
        /// `client_secret_post`
        ClientSecretPost => "client_secret_post",
        /// `client_secret_jwt`
        ClientSecretJwt => "client_secret_jwt",
        /// `private_key_jwt`
        PrivateKeyJwt => "private_key_jwt",
        /// `tls_client_auth`
        TlsClientAuth => "tls_client_auth",
        /// `self_signed_tls_client_auth`
        SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
    }
    OidcError::InvalidParameter("token_endpoint_auth_method")
);

impl ResponseMode {
    /// The mode actually used for `response_type` (`jwt` resolves by response type, JARM §2.3.4).
    pub fn resolve(self, rt: ResponseType) -> ResponseMode {
        match self {
            ResponseMode::Jwt if rt == ResponseType::CODE => ResponseMode::QueryJwt,
            ResponseMode::Jwt => ResponseMode::FragmentJwt,
            other => other,
        }
    }

    /// Whether the response is a JARM JWT.
    pub fn is_jwt(self) -> bool {
        matches!(
            self,
            ResponseMode::Jwt
                | ResponseMode::QueryJwt
                | ResponseMode::FragmentJwt
                | ResponseMode::FormPostJwt
        )
    }
}

/// The `acr` a relying party asks a Portcullis provider for in a signed second-factor request: it checked a
/// first factor (the user's password) itself, and the provider checks a factor of another kind (a passkey) of
/// the user its `login_hint` names. The ID token then says this `acr` and `amr` with `mfa`.
pub const SECOND_FACTOR_ACR: &str = "urn:portcullis:acr:second-factor";
