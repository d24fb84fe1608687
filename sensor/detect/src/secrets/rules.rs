//! The prefixed-token rules: one row per documented token format (literal prefix or marker,
//! exact charset and length), checked with an anchored regex on a small window at each place
//! the Aho-Corasick pass found the literal. Patterns are written from the providers' published
//! token formats.

use regex::bytes::{Regex, RegexBuilder};

use super::util::{Classes, base62_crc_ok, fake_cap, is_alnum, is_b64ish, is_word, sub};

/// Where the regex is applied relative to the literal the automaton found.
#[derive(Clone, Copy, Debug)]
pub(super) enum Anchor {
    /// The token starts with the literal; the regex starts with `^` and runs on
    /// `text[lit_start..lit_start + max]`.
    Start,
    /// The literal sits inside the token (a marker or suffix); the regex runs unanchored on
    /// `text[lit_start - back..lit_end + fwd]` and must cover the literal.
    Around { back: usize, fwd: usize },
}

/// Extra validation after the regex matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Post {
    None,
    /// Needs upper, lower and digit in the body (short, generic-looking prefixes).
    Mixed,
    /// Needs a letter and a digit in the body.
    LetterDigit,
    /// `sk-ant-api03-` + 93 chars + `AA`.
    Anthropic,
    /// `T3BlbkFJ` marker raises confidence.
    OpenAi,
    /// 36-char classic GitHub token with CRC32 checksum.
    Github,
    /// npm token with CRC32 checksum.
    Npm,
    /// `sk_test_` / `rk_test_` are test-mode keys.
    Stripe,
    /// `pk.` tokens are public, `tk.` temporary.
    Mapbox,
    /// `WGdyb3FY` marker raises confidence.
    Groq,
    /// Azure DevOps: `JQQJ9` signature at offset 52 raises confidence.
    AzureDevops,
    /// AWS access key id: paired secret search.
    AwsKeyId,
}

/// Which bytes may not touch the token on either side.
#[derive(Clone, Copy, Debug)]
pub(super) struct Edge {
    pub before: fn(u8) -> bool,
    pub after: fn(u8) -> bool,
}

fn none(_: u8) -> bool {
    false
}
fn azure_secret_char(b: u8) -> bool {
    is_word(b) || b == b'~' || b == b'.'
}
fn hash_char(b: u8) -> bool {
    is_alnum(b) || b == b'.' || b == b'/' || b == b'$'
}

const ALNUM: Edge = Edge {
    before: is_alnum,
    after: is_alnum,
};
const WORD: Edge = Edge {
    before: is_alnum,
    after: is_word,
};
const B64: Edge = Edge {
    before: is_alnum,
    after: is_b64ish,
};
const URLISH: Edge = Edge {
    before: none,
    after: is_word,
};

/// One token format.
#[derive(Clone, Copy, Debug)]
pub(super) struct TokenDef {
    pub ty: &'static str,
    /// Literals that start the check (case-sensitive).
    pub lits: &'static [&'static str],
    /// Regex (bytes, ASCII). If it has a capture group, group 1 is the reported span.
    pub re: &'static str,
    pub conf: f32,
    pub anchor: Anchor,
    /// Window length for `Anchor::Start`.
    pub max: usize,
    pub edge: Edge,
    pub post: Post,
}

const fn tok(
    ty: &'static str,
    lits: &'static [&'static str],
    re: &'static str,
    conf: f32,
    max: usize,
) -> TokenDef {
    TokenDef {
        ty,
        lits,
        re,
        conf,
        anchor: Anchor::Start,
        max,
        edge: WORD,
        post: Post::None,
    }
}

impl TokenDef {
    const fn edge(mut self, edge: Edge) -> Self {
        self.edge = edge;
        self
    }
    const fn post(mut self, post: Post) -> Self {
        self.post = post;
        self
    }
    const fn around(mut self, back: usize, fwd: usize) -> Self {
        self.anchor = Anchor::Around { back, fwd };
        self
    }
}

/// UUID body, lowercase hex.
macro_rules! uuid {
    () => {
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    };
}

/// Every prefixed-token rule.
pub(super) const TOKENS: &[TokenDef] = &[
    // --- AI providers -------------------------------------------------------------------
    tok(
        "secrets/anthropic_api_key",
        &["sk-"],
        r"^sk-ant-api[0-9]{2}-[A-Za-z0-9_-]{80,120}",
        0.9,
        140,
    )
    .post(Post::Anthropic),
    tok(
        "secrets/anthropic_admin_key",
        &["sk-"],
        r"^sk-ant-admin[0-9]{2}-[A-Za-z0-9_-]{80,120}",
        0.95,
        140,
    ),
    tok(
        "secrets/anthropic_oauth_token",
        &["sk-"],
        r"^sk-ant-o[ar]t[0-9]{2}-[A-Za-z0-9_-]{80,120}",
        0.95,
        140,
    ),
    tok(
        "secrets/openai_api_key",
        &["sk-"],
        r"^sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,250}",
        0.85,
        270,
    )
    .post(Post::OpenAi),
    tok(
        "secrets/openai_api_key",
        &["sk-"],
        r"^sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}",
        0.95,
        60,
    ),
    tok(
        "secrets/openrouter_api_key",
        &["sk-"],
        r"^sk-or-v1-[a-f0-9]{64}",
        0.95,
        80,
    ),
    tok(
        "secrets/groq_api_key",
        &["gsk_"],
        r"^gsk_[A-Za-z0-9]{52}",
        0.85,
        60,
    )
    .post(Post::Groq),
    tok(
        "secrets/huggingface_token",
        &["hf_"],
        r"^hf_[A-Za-z0-9]{34,40}",
        0.85,
        50,
    )
    .post(Post::Mixed),
    tok(
        "secrets/huggingface_token",
        &["api_org_"],
        r"^api_org_[A-Za-z0-9]{34}",
        0.85,
        50,
    )
    .post(Post::Mixed),
    tok(
        "secrets/replicate_api_token",
        &["r8_"],
        r"^r8_[A-Za-z0-9]{37}",
        0.85,
        45,
    )
    .post(Post::Mixed),
    tok(
        "secrets/perplexity_api_key",
        &["pplx-"],
        r"^pplx-[A-Za-z0-9]{48}",
        0.9,
        60,
    ),
    tok(
        "secrets/xai_api_key",
        &["xai-"],
        r"^xai-[A-Za-z0-9]{80}",
        0.9,
        90,
    )
    .post(Post::Mixed),
    tok(
        "secrets/tavily_api_key",
        &["tvly-"],
        r"^tvly-(?:dev-|prod-)?[A-Za-z0-9]{32}",
        0.9,
        50,
    ),
    tok(
        "secrets/firecrawl_api_key",
        &["fc-"],
        r"^fc-[0-9a-f]{32}",
        0.8,
        40,
    )
    .post(Post::LetterDigit),
    tok(
        "secrets/jina_api_key",
        &["jina_"],
        r"^jina_[A-Za-z0-9]{60}",
        0.85,
        70,
    )
    .post(Post::LetterDigit),
    tok(
        "secrets/langsmith_api_key",
        &["lsv2_"],
        r"^lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}",
        0.95,
        60,
    ),
    // --- AWS ----------------------------------------------------------------------------
    tok(
        "secrets/aws_access_key",
        &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
        r"^(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}",
        0.85,
        24,
    )
    .edge(ALNUM)
    .post(Post::AwsKeyId),
    tok(
        "secrets/aws_appsync_key",
        &["da2-"],
        r"^da2-[a-z0-9]{26}",
        0.8,
        32,
    )
    .post(Post::LetterDigit),
    tok(
        "secrets/amazon_mws_token",
        &["amzn.mws."],
        concat!(r"^amzn\.mws\.", uuid!()),
        0.9,
        50,
    ),
    // --- Google -------------------------------------------------------------------------
    tok(
        "secrets/gcp_api_key",
        &["AIza"],
        r"^AIza[0-9A-Za-z_-]{35}",
        0.8,
        40,
    ),
    tok(
        "secrets/gcp_oauth_client_secret",
        &["GOCSPX-"],
        r"^GOCSPX-[A-Za-z0-9_-]{28}",
        0.9,
        40,
    ),
    tok(
        "secrets/gcp_oauth_token",
        &["ya29."],
        r"^ya29\.[A-Za-z0-9_-]{30,2000}",
        0.85,
        2010,
    ),
    // --- Azure --------------------------------------------------------------------------
    tok(
        "secrets/azure_storage_key",
        &["AccountKey="],
        r"^AccountKey=([A-Za-z0-9+/]{86}==)",
        0.95,
        100,
    )
    .edge(B64),
    tok(
        "secrets/azure_connection_string",
        &["SharedAccessKey="],
        r"^SharedAccessKey=([A-Za-z0-9+/]{42,43}=)",
        0.9,
        64,
    )
    .edge(B64),
    tok(
        "secrets/azure_connection_string",
        &[".azconfig.io;"],
        r#"^\.azconfig\.io;Id=[^;\s"']{1,80};Secret=([A-Za-z0-9+/]{42,43}=)"#,
        0.9,
        160,
    )
    .edge(Edge {
        before: none,
        after: is_b64ish,
    }),
    tok(
        "secrets/azure_client_secret",
        &["Q~"],
        r"[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}",
        0.8,
        0,
    )
    .around(4, 36)
    .edge(Edge {
        before: azure_secret_char,
        after: azure_secret_char,
    }),
    tok(
        "secrets/azure_devops_pat",
        &["AZDO"],
        r"[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}",
        0.8,
        0,
    )
    .around(76, 4)
    .edge(ALNUM)
    .post(Post::AzureDevops),
    tok(
        "secrets/azure_sas_token",
        &["sig="],
        r#"[?&]sv=[0-9]{4}-[0-9]{2}-[0-9]{2}[^\s"'<>]{0,400}?[?&]sig=([A-Za-z0-9%+/]{40,120}(?:%3[dD]|=){0,2})"#,
        0.85,
        0,
    )
    .around(420, 130)
    .edge(Edge {
        before: none,
        after: is_b64ish,
    }),
    // --- Source hosting, CI, registries -------------------------------------------------
    tok(
        "secrets/github_token",
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        r"^gh[pousr]_[A-Za-z0-9]{36,251}",
        0.9,
        260,
    )
    .post(Post::Github),
    tok(
        "secrets/github_token",
        &["github_pat_"],
        r"^github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
        0.95,
        100,
    ),
    tok(
        "secrets/github_token",
        &["github_pat_"],
        r"^github_pat_[A-Za-z0-9_]{70,120}",
        0.9,
        140,
    ),
    tok(
        "secrets/gitlab_token",
        &["glpat-", "gloas-", "gldt-", "glrt-", "glcbt-", "glptt-", "glft-"],
        r"^gl(?:pat|oas|dt|rt|rtr|cbt|ptt|ft|imt|agent|soat|ffct)-[A-Za-z0-9_-]{20,80}(?:\.[A-Za-z0-9_-]{2,20}){0,2}",
        0.9,
        140,
    )
    .post(Post::LetterDigit),
    tok(
        "secrets/gitlab_token",
        &["GR1348941"],
        r"^GR1348941[A-Za-z0-9_-]{20,40}",
        0.9,
        60,
    ),
    tok(
        "secrets/bitbucket_app_password",
        &["ATBB"],
        r"^ATBB[A-Za-z0-9]{32}",
        0.9,
        40,
    )
    .edge(ALNUM),
    tok(
        "secrets/atlassian_api_token",
        &["ATATT3", "ATCTT3"],
        r"^AT[AC]TT3[A-Za-z0-9_-]{100,300}=[A-Fa-f0-9]{8}",
        0.95,
        320,
    )
    .edge(ALNUM),
    tok(
        "secrets/npm_token",
        &["npm_"],
        r"^npm_[A-Za-z0-9]{36}",
        0.85,
        45,
    )
    .post(Post::Npm),
    tok(
        "secrets/pypi_token",
        &["pypi-AgE"],
        r"^pypi-AgE[A-Za-z0-9_-]{50,1000}",
        0.95,
        1010,
    ),
    tok(
        "secrets/rubygems_token",
        &["rubygems_"],
        r"^rubygems_[a-f0-9]{48}",
        0.95,
        60,
    ),
    tok(
        "secrets/crates_io_token",
        &["cio"],
        r"^cio[A-Za-z0-9]{32}",
        0.8,
        40,
    )
    .edge(ALNUM)
    .post(Post::Mixed),
    tok(
        "secrets/nuget_api_key",
        &["oy2"],
        r"^oy2[a-z0-9]{43}",
        0.85,
        50,
    )
    .edge(ALNUM)
    .post(Post::LetterDigit),
    tok(
        "secrets/dockerhub_token",
        &["dckr_"],
        r"^dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,80}",
        0.9,
        90,
    ),
    tok(
        "secrets/artifactory_token",
        &["AKCp"],
        r"^AKCp[A-Za-z0-9]{69}",
        0.9,
        80,
    )
    .edge(ALNUM),
    tok(
        "secrets/artifactory_token",
        &["cmVmdGtuOjAxOj"],
        r"^cmVmdGtuOjAxOj[A-Za-z0-9]{40,80}",
        0.9,
        100,
    )
    .edge(ALNUM),
    tok(
        "secrets/dependency_track_key",
        &["odt_"],
        r"^odt_[A-Za-z0-9]{32,48}",
        0.85,
        60,
    )
    .edge(ALNUM)
    .post(Post::LetterDigit),
    tok(
        "secrets/sourcegraph_token",
        &["sgp_"],
        r"^sgp_(?:[a-f0-9]{16}|local)_[a-f0-9]{40}",
        0.9,
        70,
    ),
    tok(
        "secrets/sourcegraph_token",
        &["sgp_"],
        r"^sgp_[a-f0-9]{40}",
        0.85,
        50,
    ),
    tok(
        "secrets/segment_token",
        &["sgp_"],
        r"^sgp_[A-Za-z0-9]{64}",
        0.85,
        70,
    )
    .post(Post::Mixed),
    tok(
        "secrets/teamcity_token",
        &["eyJ0eXAiOiAiVENWMiJ9."],
        r"^eyJ0eXAiOiAiVENWMiJ9\.[A-Za-z0-9_-]{20,200}\.[A-Za-z0-9_-]{20,200}",
        0.9,
        420,
    ),
    tok(
        "secrets/sonarqube_token",
        &["squ_", "sqp_", "sqa_"],
        r"^sq[upa]_[a-f0-9]{40}",
        0.9,
        48,
    )
    .post(Post::LetterDigit),
    tok(
        "secrets/sonarqube_token",
        &["sonar.login", "sonar.token"],
        r#"^(?i:sonar\.(?:login|token))["']?[ \t]*[=:,][ \t]*["']?([a-f0-9]{40})"#,
        0.85,
        80,
    )
    .edge(Edge {
        before: none,
        after: is_alnum,
    })
    .post(Post::LetterDigit),
    tok(
        "secrets/postman_api_key",
        &["PMAK-"],
        r"^PMAK-[a-f0-9]{24}-[a-f0-9]{34}",
        0.95,
        70,
    ),
    tok(
        "secrets/stackhawk_api_key",
        &["hawk."],
        r"^hawk\.[A-Za-z0-9_-]{20}\.[A-Za-z0-9_-]{20}",
        0.9,
        50,
    ),
    // --- Chat, messaging, webhooks ------------------------------------------------------
    tok(
        "secrets/slack_token",
        &["xox"],
        r"^xoxb-[0-9]{8,14}-[0-9]{8,14}-[A-Za-z0-9]{24}",
        0.95,
        70,
    ),
    tok(
        "secrets/slack_token",
        &["xox"],
        r"^xoxp-[0-9]{8,14}-[0-9]{8,14}-[0-9]{8,14}-[a-f0-9]{32}",
        0.95,
        90,
    ),
    tok(
        "secrets/slack_token",
        &["xox"],
        r"^xox[abeoprs]-(?:[0-9]{1,14}-){1,3}[A-Za-z0-9]{20,64}",
        0.9,
        130,
    ),
    tok(
        "secrets/slack_token",
        &["xox"],
        r"^xoxe(?:\.xox[bp])?-[0-9]-[A-Za-z0-9]{60,250}",
        0.9,
        270,
    ),
    tok(
        "secrets/slack_token",
        &["xapp-"],
        r"^xapp-[0-9]-[A-Z0-9]{8,12}-[0-9]{10,16}-[a-f0-9]{64}",
        0.95,
        110,
    ),
    tok(
        "secrets/slack_token",
        &["xapp-"],
        r"^xapp-[0-9]{1,14}-[A-Za-z0-9/+_-]{20,120}",
        0.8,
        140,
    )
    .post(Post::Mixed),
    tok(
        "secrets/slack_webhook",
        &["hooks.slack.com/"],
        r"^hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,12}/[AB][A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}",
        0.95,
        110,
    )
    .edge(URLISH),
    tok(
        "secrets/discord_webhook",
        &["discord.com/api/webhooks/", "discordapp.com/api/webhooks/"],
        r"^discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,70}",
        0.95,
        130,
    )
    .edge(URLISH),
    tok(
        "secrets/teams_webhook",
        &["webhook.office.com/webhookb2/", "outlook.office.com/webhook/"],
        concat!(
            r"^(?:webhook\.office\.com/webhookb2|outlook\.office\.com/webhook)/[0-9a-f-]{36}@[0-9a-f-]{36}/IncomingWebhook/[0-9a-f]{32}/",
            uuid!()
        ),
        0.9,
        220,
    )
    .edge(URLISH),
    tok(
        "secrets/telegram_bot_token",
        &[":AA"],
        r"(?:bot)?([0-9]{6,12}:AA[A-Za-z0-9_-]{32,33})",
        0.85,
        0,
    )
    .around(16, 34)
    .post(Post::Mixed),
    // --- Payments, commerce -------------------------------------------------------------
    tok(
        "secrets/stripe_key",
        &["sk_", "rk_"],
        r"^[rs]k_(?:live|test)_[A-Za-z0-9]{20,247}",
        0.95,
        260,
    )
    .post(Post::Stripe),
    tok(
        "secrets/stripe_key",
        &["whsec_"],
        r"^whsec_[A-Za-z0-9+/=]{32,100}",
        0.85,
        110,
    )
    .edge(B64)
    .post(Post::Mixed),
    tok(
        "secrets/square_token",
        &["sq0"],
        r"^sq0atp-[A-Za-z0-9_-]{22}",
        0.95,
        30,
    ),
    tok(
        "secrets/square_token",
        &["sq0"],
        r"^sq0csp-[A-Za-z0-9_-]{43}",
        0.95,
        52,
    ),
    tok(
        "secrets/square_token",
        &["sq0"],
        r"^sq0atb-[A-Za-z0-9_-]{22}",
        0.75,
        30,
    ),
    tok(
        "secrets/square_token",
        &["EAA"],
        r"^EAAA[A-Za-z0-9_-]{60}",
        0.85,
        66,
    )
    .post(Post::Mixed),
    tok(
        "secrets/facebook_access_token",
        &["EAA"],
        r"^EAA[B-Z0-9][A-Za-z0-9]{90,400}",
        0.85,
        410,
    )
    .edge(ALNUM)
    .post(Post::Mixed),
    tok(
        "secrets/shopify_token",
        &["shp"],
        r"^shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
        0.95,
        40,
    ),
    tok(
        "secrets/salesforce_token",
        &["00D"],
        r"^00D[A-Za-z0-9]{12,15}![A-Za-z0-9_.]{80,300}",
        0.85,
        320,
    )
    .edge(ALNUM),
    // --- Email, messaging APIs ----------------------------------------------------------
    tok(
        "secrets/sendgrid_api_key",
        &["SG."],
        r"^SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
        0.95,
        70,
    ),
    tok(
        "secrets/twilio_api_key",
        &["SK"],
        r"^SK[0-9a-f]{32}",
        0.8,
        34,
    )
    .edge(ALNUM)
    .post(Post::LetterDigit),
    tok(
        "secrets/mailgun_api_key",
        &["key-"],
        r"^key-[0-9a-f]{32}",
        0.8,
        36,
    )
    .edge(ALNUM)
    .post(Post::LetterDigit),
    tok(
        "secrets/mailchimp_api_key",
        &["-us"],
        r"[0-9a-f]{32}-us[0-9]{1,2}",
        0.85,
        0,
    )
    .around(32, 2)
    .edge(ALNUM)
    .post(Post::LetterDigit),
    // --- Cloud, infra, observability ----------------------------------------------------
    tok(
        "secrets/digitalocean_token",
        &["_v1_"],
        r"do[opr]_v1_[a-f0-9]{64}",
        0.95,
        0,
    )
    .around(3, 64),
    tok(
        "secrets/heroku_api_key",
        &["HRKU-"],
        r"^HRKU-[A-Za-z0-9_-]{40,70}",
        0.9,
        80,
    )
    .post(Post::Mixed),
    tok(
        "secrets/databricks_token",
        &["dapi"],
        r"^dapi[0-9a-f]{32}(?:-[0-9]{1,2})?",
        0.9,
        40,
    )
    .post(Post::LetterDigit),
    tok(
        "secrets/doppler_token",
        &["dp."],
        r"^dp\.(?:pt|ct|sa|scim|audit|st(?:\.[a-z0-9_-]{1,40})?)\.[A-Za-z0-9]{40,44}",
        0.95,
        100,
    ),
    tok(
        "secrets/vault_token",
        &["hvs.", "hvb.", "hvr."],
        r"^hv[sbr]\.[A-Za-z0-9_-]{24,400}",
        0.9,
        410,
    )
    .post(Post::Mixed),
    tok(
        "secrets/terraform_cloud_token",
        &[".atlasv1."],
        r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70}",
        0.95,
        0,
    )
    .around(14, 70),
    tok(
        "secrets/planetscale_token",
        &["pscale_"],
        r"^pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64}",
        0.9,
        80,
    ),
    tok(
        "secrets/supabase_token",
        &["sbp_"],
        r"^sbp_[a-f0-9]{40}",
        0.9,
        48,
    ),
    tok(
        "secrets/supabase_token",
        &["sb_secret_"],
        r"^sb_secret_[A-Za-z0-9_-]{20,80}",
        0.9,
        96,
    )
    .post(Post::Mixed),
    tok(
        "secrets/pulumi_token",
        &["pul-"],
        r"^pul-[a-f0-9]{40}",
        0.9,
        48,
    ),
    tok(
        "secrets/flyio_token",
        &["fo1_"],
        r"^fo1_[A-Za-z0-9_-]{43}",
        0.9,
        50,
    ),
    tok(
        "secrets/flyio_token",
        &["FlyV1 fm"],
        r"^FlyV1 fm[12][a-z]?_[A-Za-z0-9+/=_,-]{50,2000}",
        0.9,
        2020,
    )
    .edge(B64),
    tok(
        "secrets/linear_api_key",
        &["lin_"],
        r"^lin_api_[A-Za-z0-9]{40}",
        0.95,
        50,
    ),
    tok(
        "secrets/linear_api_key",
        &["lin_"],
        r"^lin_oauth_[a-f0-9]{64}",
        0.9,
        80,
    ),
    tok(
        "secrets/notion_token",
        &["secret_"],
        r"^secret_[A-Za-z0-9]{43}",
        0.8,
        52,
    )
    .post(Post::Mixed),
    tok(
        "secrets/notion_token",
        &["ntn_"],
        r"^ntn_[0-9]{11}[A-Za-z0-9]{35}",
        0.9,
        52,
    ),
    tok(
        "secrets/sentry_token",
        &["sntry"],
        r"^sntrys_eyJ[A-Za-z0-9+/=_-]{60,400}",
        0.95,
        420,
    )
    .edge(B64),
    tok(
        "secrets/sentry_token",
        &["sntry"],
        r"^sntryu_[a-f0-9]{64}",
        0.95,
        72,
    ),
    tok(
        "secrets/grafana_token",
        &["glsa_"],
        r"^glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}",
        0.95,
        48,
    ),
    tok(
        "secrets/grafana_token",
        &["glc_"],
        r"^glc_[A-Za-z0-9+/]{32,400}={0,2}",
        0.9,
        410,
    )
    .edge(B64)
    .post(Post::Mixed),
    tok(
        "secrets/grafana_token",
        &["eyJrIjoi"],
        r"^eyJrIjoi[A-Za-z0-9+/]{40,400}={0,2}",
        0.85,
        410,
    )
    .edge(Edge {
        before: is_b64ish,
        after: is_b64ish,
    }),
    tok(
        "secrets/new_relic_key",
        &["NRA"],
        r"^NRAK-[A-Z0-9]{27}",
        0.9,
        34,
    ),
    tok(
        "secrets/new_relic_key",
        &["NRA"],
        r"^NRAA-[a-f0-9]{27}",
        0.9,
        34,
    ),
    tok(
        "secrets/new_relic_key",
        &["NRI"],
        r"^NRI[IQ]-[A-Za-z0-9_-]{32}",
        0.9,
        40,
    ),
    tok(
        "secrets/new_relic_key",
        &["NRRA-"],
        r"^NRRA-[a-f0-9]{42}",
        0.9,
        50,
    ),
    tok(
        "secrets/new_relic_key",
        &["NRAL"],
        r"[a-z0-9]{36}NRAL",
        0.85,
        0,
    )
    .around(36, 0)
    .edge(ALNUM)
    .post(Post::LetterDigit),
    tok(
        "secrets/new_relic_key",
        &["px-"],
        concat!(r"^px-(?:api|dep)-", uuid!()),
        0.85,
        50,
    ),
    tok(
        "secrets/dynatrace_token",
        &["dt0c01."],
        r"^dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}",
        0.95,
        100,
    ),
    tok(
        "secrets/okta_api_token",
        &["SSWS "],
        r"^SSWS (00[A-Za-z0-9_-]{40})",
        0.9,
        50,
    ),
    tok(
        "secrets/figma_token",
        &["figd_"],
        r"^figd_[A-Za-z0-9_-]{40,80}",
        0.9,
        90,
    ),
    tok(
        "secrets/dropbox_token",
        &["sl."],
        r"^sl\.(?:u\.)?[A-Za-z0-9_-]{130,1400}",
        0.85,
        1410,
    )
    .post(Post::Mixed),
    tok(
        "secrets/mapbox_token",
        &["k.eyJ"],
        r"[spt]k\.eyJ[A-Za-z0-9_-]{10,400}\.[A-Za-z0-9_-]{20,100}",
        0.9,
        0,
    )
    .around(1, 510)
    .post(Post::Mapbox),
    tok(
        "secrets/adafruit_io_key",
        &["aio_"],
        r"^aio_[A-Za-z0-9]{28}",
        0.85,
        34,
    )
    .post(Post::Mixed),
    tok(
        "secrets/adobe_client_secret",
        &["p8e-"],
        r"^p8e-[A-Za-z0-9_-]{32}",
        0.85,
        38,
    )
    .post(Post::Mixed),
    tok(
        "secrets/age_secret_key",
        &["AGE-SECRET-KEY-1"],
        r"^AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        0.95,
        80,
    ),
    tok(
        "secrets/twitch_stream_key",
        &["live_"],
        r"^live_[0-9]{5,12}_[A-Za-z0-9]{30}",
        0.85,
        50,
    )
    .post(Post::Mixed),
    // --- Context-anchored formats ---------------------------------------------------------
    tok(
        "secrets/vault_unseal_key",
        &["Unseal Key "],
        r"^Unseal Key [0-9]{1,2}:[ \t]+([A-Za-z0-9+/]{43,44}={0,2})",
        0.85,
        80,
    )
    .edge(Edge {
        before: is_alnum,
        after: is_b64ish,
    })
    .post(Post::Mixed),
    tok(
        "secrets/kubernetes_bootstrap_token",
        &["--token"],
        r"^--token[ =]+([a-z0-9]{6}\.[a-z0-9]{16})",
        0.85,
        40,
    )
    .edge(Edge {
        before: none,
        after: is_alnum,
    })
    .post(Post::LetterDigit),
    tok(
        "secrets/truenas_api_key",
        &["login_with_api_key"],
        r#"^login_with_api_key"[ \t\r\n]*,[ \t\r\n]*"params"[ \t\r\n]*:[ \t\r\n]*\[[ \t\r\n]*"([0-9]{1,5}-[A-Za-z0-9]{64})""#,
        0.9,
        140,
    )
    .edge(Edge {
        before: none,
        after: none,
    })
    .post(Post::Mixed),
    tok(
        "secrets/thingsboard_token",
        &["/api/v1/"],
        r"(?i:thingsboard)[A-Za-z0-9.:-]{0,60}/api/v1/([A-Za-z0-9]{20})/(?:telemetry|attributes|rpc|claim)",
        0.85,
        0,
    )
    .around(72, 40)
    .edge(Edge {
        before: none,
        after: none,
    })
    .post(Post::LetterDigit),
    // --- Password hashes ----------------------------------------------------------------
    tok(
        "secrets/password_hash",
        &["$2a$", "$2b$", "$2y$"],
        r"^\$2[abxy]\$[0-9]{2}\$[./A-Za-z0-9]{53}",
        0.75,
        64,
    )
    .edge(Edge {
        before: hash_char,
        after: hash_char,
    }),
    tok(
        "secrets/password_hash",
        &["$1$"],
        r"^\$1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}",
        0.8,
        40,
    )
    .edge(Edge {
        before: hash_char,
        after: hash_char,
    }),
    tok(
        "secrets/password_hash",
        &["$5$"],
        r"^\$5\$(?:rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43}",
        0.8,
        90,
    )
    .edge(Edge {
        before: hash_char,
        after: hash_char,
    }),
    tok(
        "secrets/password_hash",
        &["$6$"],
        r"^\$6\$(?:rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}",
        0.8,
        130,
    )
    .edge(Edge {
        before: hash_char,
        after: hash_char,
    }),
    tok(
        "secrets/password_hash",
        &["$8$"],
        r"^\$8\$[./A-Za-z0-9]{14}\$[./A-Za-z0-9]{43}",
        0.8,
        70,
    )
    .edge(Edge {
        before: hash_char,
        after: hash_char,
    }),
    tok(
        "secrets/password_hash",
        &["$y$"],
        r"^\$y\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{1,86}\$[./A-Za-z0-9]{43}",
        0.8,
        150,
    )
    .edge(Edge {
        before: hash_char,
        after: hash_char,
    }),
    tok(
        "secrets/password_hash",
        &["$argon2"],
        r"^\$argon2(?:id|i|d)\$v=[0-9]{1,3}\$m=[0-9]{1,8},t=[0-9]{1,4},p=[0-9]{1,3}\$[A-Za-z0-9+/]{8,88}\$[A-Za-z0-9+/]{20,200}",
        0.75,
        330,
    )
    .edge(Edge {
        before: hash_char,
        after: hash_char,
    }),
    tok(
        "secrets/password_hash",
        &["$krb5"],
        r"^\$krb5(?:asrep|tgs)\$[0-9]{2}\$[^\s$]{8,300}\$[0-9a-f]{64,8000}",
        0.85,
        8400,
    )
    .edge(Edge {
        before: hash_char,
        after: hash_char,
    }),
];

/// A compiled rule.
#[derive(Debug)]
pub(super) struct Compiled {
    pub def: &'static TokenDef,
    pub re: Regex,
    pub group: bool,
}

/// Compiles every rule; a rule whose regex fails to compile is skipped (a unit test asserts
/// none does).
pub(super) fn compile() -> Vec<Compiled> {
    TOKENS
        .iter()
        .filter_map(|def| {
            let re = RegexBuilder::new(&format!("(?-u){}", def.re))
                .size_limit(1 << 22)
                .build()
                .ok()?;
            let group = re.captures_len() > 1;
            Some(Compiled { def, re, group })
        })
        .collect()
}

/// Confidence after the rule's extra validation, or `None` to drop the match. `body` is the
/// token without its literal prefix (the whole token for marker rules).
pub(super) fn post_conf(post: Post, conf: f32, token: &[u8], body: &[u8]) -> Option<f32> {
    let c = Classes::of(body);
    let conf = match post {
        Post::None | Post::AwsKeyId => conf,
        Post::Mixed => {
            let kinds = u8::from(c.lower) + u8::from(c.upper) + u8::from(c.digit);
            match kinds {
                3 => conf,
                2 => conf - 0.05,
                _ => return None,
            }
        }
        Post::LetterDigit => {
            if !(c.digit && (c.lower || c.upper)) {
                return None;
            }
            conf
        }
        Post::Anthropic => {
            // sk-ant-apiNN- + 93 + "AA"
            let tail = sub(token, 13, token.len());
            if tail.len() == 95 && tail.ends_with(b"AA") {
                0.97
            } else {
                conf
            }
        }
        Post::OpenAi => {
            if token.windows(8).any(|w| w == b"T3BlbkFJ") {
                0.95
            } else {
                conf
            }
        }
        Post::Github => {
            let body = sub(token, 4, token.len());
            if body.len() == 36 && base62_crc_ok(body) {
                0.97
            } else {
                conf
            }
        }
        Post::Npm => {
            if base62_crc_ok(body) {
                0.95
            } else {
                conf
            }
        }
        Post::Stripe => {
            if token.get(3..7) == Some(b"test") {
                0.7
            } else {
                conf
            }
        }
        Post::Mapbox => match token.first() {
            Some(b's') => conf,
            Some(b't') => 0.8,
            _ => 0.5,
        },
        Post::Groq => {
            if body.windows(8).any(|w| w == b"WGdyb3FY") {
                0.95
            } else {
                conf
            }
        }
        Post::AzureDevops => {
            if token.get(52..57) == Some(b"JQQJ9") {
                0.92
            } else {
                conf
            }
        }
    };
    Some(match fake_cap(body) {
        Some(cap) => conf.min(cap),
        None => conf,
    })
}
