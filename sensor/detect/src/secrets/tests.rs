//! Unit tests for the secret detectors: one positive and near-miss negatives per detector type
//! (tokens are generated at run time from a fixed-seed generator, never written as literals),
//! spans, confidence ordering, placeholders, overlap resolution, robustness on arbitrary input.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use proptest::prelude::*;

use super::SecretsDetector;
use super::util::crc32;
use crate::engine::{RawMatch, SignatureDetector};

const BLOCK: f32 = 0.75;
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const WORD: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const HEX: &[u8] = b"0123456789abcdef";
const UPPER_DIGIT: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LOWER_DIGIT: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DIGITS: &[u8] = b"0123456789";

/// Deterministic generator of random-looking strings.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn s(&mut self, set: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(set[(self.next() % set.len() as u64) as usize]))
            .collect()
    }
    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-{}-{}-{}",
            self.s(HEX, 8),
            self.s(HEX, 4),
            self.s(HEX, 4),
            self.s(HEX, 4),
            self.s(HEX, 12)
        )
    }
}

fn detector() -> &'static SecretsDetector {
    static D: std::sync::OnceLock<SecretsDetector> = std::sync::OnceLock::new();
    D.get_or_init(SecretsDetector::new)
}

fn scan(text: &str) -> Vec<RawMatch> {
    let d = detector();
    let mut out = Vec::new();
    d.scan(text, &mut out);
    out
}

fn blocking(text: &str) -> Vec<(&'static str, f32, String)> {
    scan(text)
        .into_iter()
        .filter(|m| m.confidence >= BLOCK)
        .map(|m| {
            (
                m.detector_type,
                m.confidence,
                text.get(m.start..m.end).unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Asserts a match of `ty` at or over the blocking threshold whose span is exactly `token`.
#[track_caller]
fn assert_found(ty: &str, text: &str, token: &str) {
    let found = scan(text);
    assert!(
        found.iter().any(|m| m.detector_type == ty
            && m.confidence >= BLOCK
            && text.get(m.start..m.end) == Some(token)),
        "{ty} not found as {token:?} in {text:?}: {found:?}"
    );
}

/// Asserts nothing at or over the blocking threshold.
#[track_caller]
fn assert_clean(text: &str) {
    let b = blocking(text);
    assert!(b.is_empty(), "unexpected findings in {text:?}: {b:?}");
}

/// A GitHub-style token body: 30 random characters and their base62 CRC32.
fn with_checksum(random: &str) -> String {
    const DIGITS62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = crc32(random.as_bytes());
    let mut enc = [b'0'; 6];
    for slot in enc.iter_mut().rev() {
        *slot = DIGITS62[(n % 62) as usize];
        n /= 62;
    }
    format!("{random}{}", String::from_utf8_lossy(&enc))
}

fn pem(label: &str, g: &mut Gen) -> String {
    let mut s = format!("-----BEGIN {label}-----\n");
    for _ in 0..6 {
        s.push_str(&g.s(B64, 64));
        s.push('\n');
    }
    s.push_str(&format!("{}==\n-----END {label}-----", g.s(B64, 30)));
    s
}

fn jwt(g: &mut Gen, header: &str, payload: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload),
        g.s(WORD, 43)
    )
}

/// (type, text, the token the match must span, near-miss texts that must not block).
fn cases() -> Vec<(&'static str, String, String, Vec<String>)> {
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let mut v = Vec::new();
    let mut add = |ty: &'static str, text: String, token: String, negs: Vec<String>| {
        v.push((ty, text, token, negs));
    };

    let k = format!("sk-ant-api03-{}AA", g.s(WORD, 93));
    add(
        "secrets/anthropic_api_key",
        format!("ANTHROPIC_API_KEY={k}\n"),
        k.clone(),
        vec![
            format!("sk-ant-api03-{}", g.s(WORD, 20)),
            format!("sk-ant-api03-{}", "x".repeat(95)),
            "sk-ant-api03-...".into(),
        ],
    );
    let k = format!("sk-ant-admin01-{}AA", g.s(WORD, 93));
    add(
        "secrets/anthropic_admin_key",
        format!("key: {k}"),
        k,
        vec![],
    );
    let k = format!("sk-ant-oat01-{}AA", g.s(WORD, 93));
    add(
        "secrets/anthropic_oauth_token",
        format!("CLAUDE_CODE_OAUTH_TOKEN={k}"),
        k,
        vec![format!("sk-ant-oat01-{}", g.s(WORD, 30))],
    );
    let k = format!("sk-proj-{}T3BlbkFJ{}", g.s(WORD, 74), g.s(WORD, 74));
    add(
        "secrets/openai_api_key",
        format!("client = OpenAI(api_key=\"{k}\")"),
        k,
        vec![
            format!("sk-proj-{}", g.s(ALNUM, 12)),
            "task-proj-1234".into(),
        ],
    );
    let k = format!("sk-{}T3BlbkFJ{}", g.s(ALNUM, 20), g.s(ALNUM, 20));
    add("secrets/openai_api_key", format!("'{k}'"), k, vec![]);
    let k = format!("sk-or-v1-{}", g.s(HEX, 64));
    add(
        "secrets/openrouter_api_key",
        k.clone(),
        k,
        vec![format!("sk-or-v1-{}", g.s(HEX, 60))],
    );
    let k = format!("gsk_{}", g.s(ALNUM, 52));
    add(
        "secrets/groq_api_key",
        format!("GROQ_API_KEY={k}"),
        k,
        vec![format!("gsk_{}", g.s(ALNUM, 40))],
    );
    let k = format!("hf_{}", g.s(ALNUM, 34));
    add(
        "secrets/huggingface_token",
        format!("token={k}"),
        k,
        vec!["hf_hub_download".into(), format!("hf_{}", "abcd".repeat(9))],
    );
    let k = format!("r8_{}", g.s(ALNUM, 37));
    add(
        "secrets/replicate_api_token",
        k.clone(),
        k,
        vec![format!("r8_{}", g.s(ALNUM, 20))],
    );
    let k = format!("pplx-{}", g.s(ALNUM, 48));
    add(
        "secrets/perplexity_api_key",
        k.clone(),
        k,
        vec![format!("pplx-{}", g.s(ALNUM, 47))],
    );
    let k = format!("xai-{}", g.s(ALNUM, 80));
    add(
        "secrets/xai_api_key",
        k.clone(),
        k,
        vec![format!("xai-{}", g.s(ALNUM, 79))],
    );
    let k = format!("tvly-{}", g.s(ALNUM, 32));
    add(
        "secrets/tavily_api_key",
        k.clone(),
        k,
        vec![format!("tvly-{}", "x".repeat(32))],
    );
    let k = format!("fc-{}", g.s(HEX, 32));
    add(
        "secrets/firecrawl_api_key",
        k.clone(),
        k,
        vec![format!("fc-{}", g.s(HEX, 31))],
    );
    let k = format!("jina_{}", g.s(ALNUM, 60));
    add("secrets/jina_api_key", k.clone(), k, vec![]);
    let k = format!("lsv2_pt_{}_{}", g.s(HEX, 32), g.s(HEX, 10));
    add("secrets/langsmith_api_key", k.clone(), k, vec![]);

    let id = format!("AKIA{}", g.s(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    add(
        "secrets/aws_access_key",
        format!("aws_access_key_id = {id}"),
        id.clone(),
        vec![
            "AKIAIOSFODNN7EXAMPLE".into(),
            format!("AKIA{}", g.s(UPPER_DIGIT, 15)),
            "SLOVAKIA".into(),
        ],
    );
    let secret = format!("{}/{}", g.s(ALNUM, 20), g.s(ALNUM, 19));
    add(
        "secrets/aws_secret_key",
        format!("AWS_SECRET_ACCESS_KEY={secret}\n"),
        secret.clone(),
        vec![format!("AWS_SECRET_ACCESS_KEY={}", "a".repeat(40))],
    );
    add(
        "secrets/aws_secret_key",
        format!("{id},{secret}\n"),
        secret,
        vec![],
    );
    let k = format!("da2-{}", g.s(LOWER_DIGIT, 26));
    add("secrets/aws_appsync_key", k.clone(), k, vec![]);
    let k = format!("amzn.mws.{}", g.uuid());
    add("secrets/amazon_mws_token", k.clone(), k, vec![]);
    let k = format!("AIza{}", g.s(WORD, 35));
    add(
        "secrets/gcp_api_key",
        format!("key={k}&q=1"),
        k,
        vec![format!("AIza{}", g.s(WORD, 30))],
    );
    let k = format!("GOCSPX-{}", g.s(WORD, 28));
    add("secrets/gcp_oauth_client_secret", k.clone(), k, vec![]);
    let k = format!("ya29.{}", g.s(WORD, 120));
    add(
        "secrets/gcp_oauth_token",
        k.clone(),
        k,
        vec!["ya29.short".into()],
    );
    let key_block = pem("PRIVATE KEY", &mut g);
    let escaped = key_block.replace('\n', "\\n");
    add(
        "secrets/gcp_service_account",
        format!(
            "{{\"type\": \"service_account\", \"project_id\": \"p\", \"private_key_id\": \"{}\", \"private_key\": \"{escaped}\\n\", \"client_email\": \"a@p.iam.gserviceaccount.com\"}}",
            g.s(HEX, 40)
        ),
        escaped,
        vec!["{\"type\": \"service_account\", \"project_id\": \"p\"}".into()],
    );

    let k = format!("{}==", g.s(B64, 86));
    add(
        "secrets/azure_storage_key",
        format!(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={k};EndpointSuffix=core.windows.net"
        ),
        k,
        vec!["AccountName=<YOUR_ACCOUNT_NAME>;AccountKey=<YOUR_ACCOUNT_KEY>;".into()],
    );
    let k = format!("{}=", g.s(B64, 43));
    add(
        "secrets/azure_connection_string",
        format!(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={k}"
        ),
        k,
        vec!["SharedAccessKeyName=[name];SharedAccessKey=[Shared Access key goes here];".into()],
    );
    let k = format!("{}8Q~{}", g.s(ALNUM, 3), g.s(WORD, 34));
    add(
        "secrets/azure_client_secret",
        format!("AZURE_CLIENT_SECRET={k}"),
        k,
        vec!["Q~ is a key".into()],
    );
    let k = format!(
        "{}JQQJ99{}AZDO{}",
        g.s(ALNUM, 52),
        g.s(ALNUM, 18),
        g.s(ALNUM, 4)
    );
    add(
        "secrets/azure_devops_pat",
        k.clone(),
        k,
        vec![format!("{}AZDO{}", g.s(ALNUM, 70), g.s(ALNUM, 4))],
    );
    let sig = format!("{}%3D", g.s(ALNUM, 43));
    add(
        "secrets/azure_sas_token",
        format!(
            "https://a.blob.core.windows.net/c/b?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01T00:00:00Z&sig={sig}"
        ),
        sig,
        vec!["?sig=abc".into()],
    );

    let k = format!("ghp_{}", with_checksum(&g.s(ALNUM, 30)));
    add(
        "secrets/github_token",
        format!("git clone https://x:{k}@github.com/o/r"),
        k.clone(),
        vec![format!("ghp_{}", g.s(ALNUM, 35)), "ghp_".into()],
    );
    let k = format!("github_pat_{}_{}", g.s(ALNUM, 22), g.s(ALNUM, 59));
    add("secrets/github_token", k.clone(), k, vec![]);
    let k = format!("glpat-{}", g.s(WORD, 20));
    add(
        "secrets/gitlab_token",
        format!("--build-arg 'TOKEN={k}'"),
        k,
        vec![format!("glpat-{}", g.s(ALNUM, 12))],
    );
    let k = format!("ATBB{}", g.s(ALNUM, 32));
    add(
        "secrets/bitbucket_app_password",
        k.clone(),
        k,
        vec![format!("ATBB{}", g.s(ALNUM, 31))],
    );
    let k = format!("ATATT3{}={}", g.s(WORD, 180), g.s(b"0123456789ABCDEF", 8));
    add("secrets/atlassian_api_token", k.clone(), k, vec![]);
    let k = format!("npm_{}", with_checksum(&g.s(ALNUM, 30)));
    add(
        "secrets/npm_token",
        format!("//registry.npmjs.org/:_authToken={k}"),
        k,
        vec![format!("npm_{}", g.s(ALNUM, 35))],
    );
    let k = format!("pypi-AgEIcHlwaS5vcmc{}", g.s(WORD, 150));
    add(
        "secrets/pypi_token",
        format!("password = {k}"),
        k,
        vec!["pypi-AgEIcHlwaS5vcmc".into()],
    );
    let k = format!("rubygems_{}", g.s(HEX, 48));
    add("secrets/rubygems_token", k.clone(), k, vec![]);
    let k = format!("cio{}", g.s(ALNUM, 32));
    add(
        "secrets/crates_io_token",
        k.clone(),
        k,
        vec!["ciousness".into(), format!("cio{}", "a".repeat(32))],
    );
    let k = format!("oy2{}", g.s(LOWER_DIGIT, 43));
    add("secrets/nuget_api_key", k.clone(), k, vec![]);
    let k = format!("dckr_pat_{}", g.s(WORD, 27));
    add(
        "secrets/dockerhub_token",
        format!("docker login -u me -p {k}"),
        k,
        vec![],
    );
    let k = format!("AKCp{}", g.s(ALNUM, 69));
    add("secrets/artifactory_token", k.clone(), k, vec![]);
    let k = format!("odt_{}", g.s(ALNUM, 32));
    add("secrets/dependency_track_key", k.clone(), k, vec![]);
    let k = format!("sgp_{}_{}", g.s(HEX, 16), g.s(HEX, 40));
    add("secrets/sourcegraph_token", k.clone(), k, vec![]);
    let k = format!("sgp_{}", g.s(ALNUM, 64));
    add("secrets/segment_token", k.clone(), k, vec![]);
    let k = format!("eyJ0eXAiOiAiVENWMiJ9.{}.{}", g.s(WORD, 36), g.s(WORD, 48));
    add("secrets/teamcity_token", k.clone(), k, vec![]);
    let k = format!("PMAK-{}-{}", g.s(HEX, 24), g.s(HEX, 34));
    add("secrets/postman_api_key", k.clone(), k, vec![]);
    let k = format!("hawk.{}.{}", g.s(WORD, 20), g.s(WORD, 20));
    add("secrets/stackhawk_api_key", k.clone(), k, vec![]);
    let k = format!("squ_{}", g.s(HEX, 40));
    add("secrets/sonarqube_token", k.clone(), k, vec![]);

    let k = format!(
        "xoxb-{}-{}-{}",
        g.s(DIGITS, 12),
        g.s(DIGITS, 13),
        g.s(ALNUM, 24)
    );
    add(
        "secrets/slack_token",
        format!("SLACK_BOT_TOKEN={k}"),
        k,
        vec![format!(
            "xoxb-{}-{}-{}",
            "0".repeat(10),
            "0".repeat(13),
            "x".repeat(24)
        )],
    );
    let k = format!(
        "https://hooks.slack.com/services/T{}/B{}/{}",
        g.s(UPPER_DIGIT, 10),
        g.s(UPPER_DIGIT, 10),
        g.s(ALNUM, 24)
    );
    add(
        "secrets/slack_webhook",
        format!("url: {k}"),
        k[8..].to_owned(),
        vec!["https://hooks.slack.com/services/".into()],
    );
    let k = format!(
        "discord.com/api/webhooks/{}/{}",
        g.s(DIGITS, 18),
        g.s(WORD, 68)
    );
    add("secrets/discord_webhook", format!("https://{k}"), k, vec![]);
    let k = format!(
        "webhook.office.com/webhookb2/{}@{}/IncomingWebhook/{}/{}",
        g.uuid(),
        g.uuid(),
        g.s(HEX, 32),
        g.uuid()
    );
    add(
        "secrets/teams_webhook",
        format!("https://contoso.{k}"),
        k,
        vec![],
    );
    let k = format!("{}:AA{}", g.s(DIGITS, 10), g.s(WORD, 33));
    add(
        "secrets/telegram_bot_token",
        format!("bot{k}/getMe"),
        k,
        vec![format!("{}:AA{}", g.s(DIGITS, 10), g.s(WORD, 20))],
    );

    let k = format!("sk_live_{}", g.s(ALNUM, 24));
    add(
        "secrets/stripe_key",
        format!("Stripe.api_key = \"{k}\""),
        k,
        vec![
            format!("sk_test_{}", g.s(ALNUM, 24)),
            format!("pk_live_{}", g.s(ALNUM, 24)),
        ],
    );
    let k = format!("sq0atp-{}", g.s(WORD, 22));
    add(
        "secrets/square_token",
        k.clone(),
        k,
        vec!["sq0idp-abcdefghijklmnopqrstuv".into()],
    );
    let k = format!("EAAA{}", g.s(WORD, 60));
    add("secrets/square_token", k.clone(), k, vec![]);
    let k = format!("EAAC{}", g.s(ALNUM, 120));
    add(
        "secrets/facebook_access_token",
        format!("access_token={k}"),
        k,
        vec![],
    );
    let k = format!("shpat_{}", g.s(HEX, 32));
    add(
        "secrets/shopify_token",
        k.clone(),
        k,
        vec!["shopify.com".into()],
    );
    let k = format!("00D{}!{}", g.s(ALNUM, 15), g.s(ALNUM, 100));
    add("secrets/salesforce_token", k.clone(), k, vec![]);
    let k = format!("SG.{}.{}", g.s(WORD, 22), g.s(WORD, 43));
    add(
        "secrets/sendgrid_api_key",
        k.clone(),
        k,
        vec![format!("SG.{}.{}", g.s(WORD, 22), g.s(WORD, 40))],
    );
    let k = format!("SK{}", g.s(HEX, 32));
    add(
        "secrets/twilio_api_key",
        k.clone(),
        k,
        vec![format!("SK{}", g.s(HEX, 31)), "ASK".into()],
    );
    let k = g.s(HEX, 32);
    add(
        "secrets/twilio_auth_token",
        format!("TWILIO_AUTH_TOKEN=\"{k}\""),
        k,
        vec![],
    );
    let k = format!("key-{}", g.s(HEX, 32));
    add(
        "secrets/mailgun_api_key",
        k.clone(),
        k,
        vec!["key-value".into()],
    );
    let k = format!("{}-us6", g.s(HEX, 32));
    add(
        "secrets/mailchimp_api_key",
        k.clone(),
        k,
        vec!["en-us6".into()],
    );

    let k = format!("dop_v1_{}", g.s(HEX, 64));
    add(
        "secrets/digitalocean_token",
        format!("token = \"{k}\""),
        k,
        vec![],
    );
    let k = g.uuid();
    add(
        "secrets/heroku_api_key",
        format!("HEROKU_API_KEY: {k}"),
        k,
        vec![format!("https://api.heroku.com/apps/{}", g.uuid())],
    );
    let k = format!("dapi{}", g.s(HEX, 32));
    add(
        "secrets/databricks_token",
        k.clone(),
        k,
        vec!["dapiDataGetTopLongShortPositionRatio".into()],
    );
    let k = format!("dp.pt.{}", g.s(ALNUM, 43));
    add("secrets/doppler_token", k.clone(), k, vec![]);
    let k = format!("hvs.{}", g.s(WORD, 90));
    add(
        "secrets/vault_token",
        k.clone(),
        k,
        vec!["hvs.short".into()],
    );
    let k = format!("s.{}", g.s(ALNUM, 24));
    add(
        "secrets/vault_token",
        format!("VAULT_TOKEN=\"{k}\""),
        k,
        vec!["s.addComponentsFromRegistry()".into()],
    );
    let k = g.s(B64, 44);
    add(
        "secrets/vault_unseal_key",
        format!("Unseal Key 1: {k}\n"),
        k,
        vec![],
    );
    let k = format!("{}.atlasv1.{}", g.s(ALNUM, 14), g.s(WORD, 67));
    add("secrets/terraform_cloud_token", k.clone(), k, vec![]);
    let k = format!("pscale_tkn_{}", g.s(WORD, 43));
    add("secrets/planetscale_token", k.clone(), k, vec![]);
    let k = format!("sbp_{}", g.s(HEX, 40));
    add("secrets/supabase_token", k.clone(), k, vec![]);
    let k = format!("pul-{}", g.s(HEX, 40));
    add("secrets/pulumi_token", k.clone(), k, vec![]);
    let k = format!("fo1_{}", g.s(WORD, 43));
    add("secrets/flyio_token", k.clone(), k, vec![]);
    let k = format!("lin_api_{}", g.s(ALNUM, 40));
    add(
        "secrets/linear_api_key",
        k.clone(),
        k,
        vec!["lin_api_docs".into()],
    );
    let k = format!("ntn_{}{}", g.s(DIGITS, 11), g.s(ALNUM, 35));
    add("secrets/notion_token", k.clone(), k, vec![]);
    let k = format!("sntryu_{}", g.s(HEX, 64));
    add("secrets/sentry_token", k.clone(), k, vec![]);
    let k = format!("glsa_{}_{}", g.s(ALNUM, 32), g.s(HEX, 8));
    add(
        "secrets/grafana_token",
        format!("Authorization: Bearer {k}"),
        k,
        vec![],
    );
    let k = format!("NRAK-{}", g.s(UPPER_DIGIT, 27));
    add(
        "secrets/new_relic_key",
        k.clone(),
        k,
        vec![format!("NRAK-{}", g.s(UPPER_DIGIT, 20))],
    );
    let k = format!("dt0c01.{}.{}", g.s(UPPER_DIGIT, 24), g.s(UPPER_DIGIT, 64));
    add("secrets/dynatrace_token", k.clone(), k, vec![]);
    let k = format!("00{}", g.s(WORD, 40));
    add(
        "secrets/okta_api_token",
        format!("Authorization: SSWS {k}"),
        k.clone(),
        vec![],
    );
    add(
        "secrets/okta_api_token",
        format!("OKTA_API_TOKEN={k}"),
        k,
        vec![],
    );
    let k = format!("figd_{}", g.s(WORD, 40));
    add("secrets/figma_token", k.clone(), k, vec![]);
    let k = format!("sl.{}", g.s(WORD, 140));
    add(
        "secrets/dropbox_token",
        k.clone(),
        k,
        vec!["ssl.example.com".into()],
    );
    let k = format!("sk.eyJ{}.{}", g.s(WORD, 40), g.s(WORD, 22));
    add(
        "secrets/mapbox_token",
        k.clone(),
        k,
        vec![format!("pk.eyJ{}.{}", g.s(WORD, 40), g.s(WORD, 22))],
    );
    let k = format!("aio_{}", g.s(ALNUM, 28));
    add("secrets/adafruit_io_key", k.clone(), k, vec![]);
    let k = format!("p8e-{}", g.s(WORD, 32));
    add("secrets/adobe_client_secret", k.clone(), k, vec![]);
    let k = format!(
        "AGE-SECRET-KEY-1{}",
        g.s(b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)
    );
    add("secrets/age_secret_key", k.clone(), k, vec![]);
    let k = format!("live_{}_{}", g.s(DIGITS, 9), g.s(ALNUM, 30));
    add(
        "secrets/twitch_stream_key",
        k.clone(),
        k,
        vec![format!("live_{}_{}", g.s(DIGITS, 9), g.s(ALNUM, 25))],
    );
    let k = format!("{}.{}", g.s(LOWER_DIGIT, 6), g.s(LOWER_DIGIT, 16));
    add(
        "secrets/kubernetes_bootstrap_token",
        format!("kubeadm join 10.0.0.1:6443 --token {k}"),
        k,
        vec![],
    );
    let k = format!("1-{}", g.s(ALNUM, 64));
    add(
        "secrets/truenas_api_key",
        format!(
            "{{\"msg\": \"method\", \"method\": \"auth.login_with_api_key\", \"params\": [\"{k}\"]}}"
        ),
        k,
        vec![],
    );
    let k = g.s(ALNUM, 20);
    add(
        "secrets/thingsboard_token",
        format!("https://thingsboard.cloud/api/v1/{k}/telemetry"),
        k,
        vec![],
    );
    let k = g.s(HEX, 32);
    add(
        "secrets/datadog_api_key",
        format!("DD_API_KEY={k}"),
        k,
        vec![],
    );
    let k = g.s(ALNUM, 32);
    add(
        "secrets/mistral_api_key",
        format!("MISTRAL_API_KEY=\"{k}\""),
        k,
        vec![],
    );
    let k = g.s(ALNUM, 40);
    add(
        "secrets/cohere_api_key",
        format!("COHERE_API_KEY={k}"),
        k,
        vec![],
    );
    let k = g.s(WORD, 40);
    add(
        "secrets/cloudflare_api_token",
        format!("CLOUDFLARE_API_TOKEN={k}"),
        k,
        vec![],
    );
    let k = g.uuid();
    add(
        "secrets/postmark_token",
        format!("POSTMARK_API_TOKEN={k}"),
        k,
        vec![],
    );
    let k = g.uuid();
    add(
        "secrets/saucelabs_access_key",
        format!("SAUCE_ACCESS_KEY={k}"),
        k,
        vec![],
    );
    let k = format!("11{}", g.s(HEX, 32));
    add(
        "secrets/jenkins_api_token",
        format!("JENKINS_API_TOKEN={k}"),
        k,
        vec![],
    );
    let k = format!("M{}.{}.{}", g.s(WORD, 25), g.s(WORD, 6), g.s(WORD, 38));
    add(
        "secrets/discord_bot_token",
        format!("DISCORD_BOT_TOKEN={k}"),
        k,
        vec![],
    );
    let k = g.s(b"abcdefghijklmnopqrstuvwxyz234567", 52);
    add(
        "secrets/azure_devops_pat",
        format!("AZURE_DEVOPS_TOKEN=\"{k}\""),
        k,
        vec![],
    );
    let k = format!("{}=", g.s(B64, 43));
    add(
        "secrets/wireguard_key",
        format!("[Interface]\nPrivateKey = {k}\n"),
        k,
        vec!["PrivateKey = <private key>".into()],
    );

    let k = format!(
        "$2b$12${}",
        g.s(
            b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            53
        )
    );
    add(
        "secrets/password_hash",
        format!("admin:{k}"),
        k,
        vec!["echo \"$1$2\"".into()],
    );
    let block = pem("RSA PRIVATE KEY", &mut g);
    add(
        "secrets/private_key",
        format!("key = '''\n{block}\n'''"),
        block,
        vec![
            "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----".into(),
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----".into(),
        ],
    );
    let inner = pem("OPENSSH PRIVATE KEY", &mut g);
    let wrapped = STANDARD.encode(&inner);
    add(
        "secrets/private_key",
        format!("PRIVATE_KEY_B64={wrapped}\n"),
        wrapped,
        vec![],
    );
    let t = jwt(
        &mut g,
        r#"{"alg":"HS256","typ":"JWT"}"#,
        r#"{"sub":"1234","exp":1900000000}"#,
    );
    add(
        "secrets/jwt",
        format!("Authorization: Bearer {t}"),
        t,
        vec![
            jwt(&mut g, r#"{"typ":"JWT"}"#, r#"{"sub":"1"}"#),
            "eyJustAWord.notAToken".into(),
        ],
    );
    let pw = format!("{}7!{}", g.s(ALNUM, 6), g.s(ALNUM, 6));
    let url = format!("postgres://app:{pw}@db.internal:5432");
    add(
        "secrets/database_url",
        format!("DATABASE_URL={url}/app"),
        url,
        vec![
            "postgres://user:password@localhost/db".into(),
            "postgres://app:${DB_PASSWORD}@db/app".into(),
            "amqp://guest:guest@localhost:5672/".into(),
            "postgres://localhost:5432/db".into(),
        ],
    );
    add(
        "secrets/db_connection_string",
        format!("Server=db;Database=app;User Id=app;Password={pw};"),
        pw.clone(),
        vec!["Server=db;Database=app;User Id=app;Password=<password>;".into()],
    );
    let url = format!("https://deploy:{pw}@git.internal");
    add(
        "secrets/url_credentials",
        format!("{url}/repo.git"),
        url,
        vec!["https://user:pass@example.com".into()],
    );
    let k = g.s(ALNUM, 40);
    add(
        "secrets/bearer_token",
        format!("curl -H \"Authorization: Bearer {k}\" https://api.internal"),
        k,
        vec![
            "Authorization: Bearer $TOKEN".into(),
            "Authorization: Bearer <token>".into(),
            "Authorization: Bearer ${API_TOKEN}".into(),
        ],
    );
    let b = STANDARD.encode(format!("admin:{pw}"));
    add(
        "secrets/basic_auth",
        format!("Authorization: Basic {b}"),
        b,
        vec!["Basic authentication is supported".into()],
    );
    add(
        "secrets/basic_auth",
        format!("curl -u admin:{pw} https://api.internal"),
        pw.clone(),
        vec![
            "curl -u admin:$PASSWORD https://x".into(),
            "git push -u origin main".into(),
        ],
    );
    let k = g.s(ALNUM, 32);
    add(
        "secrets/generic_secret",
        format!("api_key = \"{k}\""),
        k,
        vec![
            "api_key = os.environ[\"API_KEY\"]".into(),
            "api_key = \"<your-api-key>\"".into(),
            "token: ${GITHUB_TOKEN}".into(),
            "secret_name = \"prod-db-secret\"".into(),
            "max_tokens = 4096".into(),
        ],
    );
    add(
        "secrets/generic_password",
        format!("password = \"{pw}\""),
        pw.clone(),
        vec![
            "password = \"changeme\"".into(),
            "password: ${DB_PASSWORD}".into(),
            "password = \"xxxxxxxx\"".into(),
            "password = getpass()".into(),
            "password: str".into(),
            "<input type=\"password\" name=\"password\">".into(),
            "The password must be at least 8 characters.".into(),
        ],
    );
    add(
        "secrets/generic_password",
        format!("new NetworkCredential(\"svc\", \"{pw}\")"),
        pw,
        vec![],
    );
    v
}

#[test]
fn every_rule_compiles() {
    assert_eq!(super::rules::compile().len(), super::rules::TOKENS.len());
}

#[test]
fn at_least_forty_types_and_every_case_type_is_declared() {
    let d = SecretsDetector::new();
    let types = d.detector_types();
    println!("{} detector types: {}", types.len(), types.join(" "));
    assert!(types.len() >= 40, "{}", types.len());
    assert!(types.iter().all(|t| t.starts_with("secrets/")));
    for (ty, ..) in cases() {
        assert!(types.contains(&ty), "{ty} not declared");
    }
}

#[test]
fn positives_and_near_misses() {
    let cases = cases();
    let mut covered: Vec<&str> = Vec::new();
    for (ty, text, token, negs) in &cases {
        assert_found(ty, text, token);
        for n in negs {
            assert_clean(n);
        }
        covered.push(ty);
    }
    // Every declared type has a positive case.
    let d = SecretsDetector::new();
    for ty in d.detector_types() {
        assert!(covered.contains(ty), "no positive case for {ty}");
    }
}

#[test]
fn cases_embedded_in_prose_and_at_text_edges() {
    for (ty, text, token, _) in cases() {
        // Alone, with the token at the very start and end of the text.
        assert_found(ty, &text, &token);
        // Surrounded by non-ASCII prose.
        let wrapped = format!("Voilà — 设置如下：\n{text}\n完成 ✓");
        assert_found(ty, &wrapped, &token);
        // Cut anywhere: never panics, spans stay valid.
        for cut in (0..wrapped.len()).filter(|&i| wrapped.is_char_boundary(i)) {
            let part = &wrapped[..cut];
            for m in scan(part) {
                assert!(m.start < m.end && m.end <= part.len());
                assert!(part.is_char_boundary(m.start) && part.is_char_boundary(m.end));
            }
        }
    }
}

#[test]
fn aws_pair_scores_higher_than_a_bare_string() {
    let mut g = Gen(7);
    let id = format!("AKIA{}", g.s(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    let secret = format!("{}+{}", g.s(ALNUM, 20), g.s(ALNUM, 19));
    let conf_of = |text: &str| {
        scan(text)
            .into_iter()
            .filter(|m| m.detector_type == "secrets/aws_secret_key")
            .map(|m| m.confidence)
            .fold(0.0f32, f32::max)
    };
    let paired = conf_of(&format!(
        "aws_access_key_id={id}\nAWS_SECRET_ACCESS_KEY={secret}\n"
    ));
    let keyword_only = conf_of(&format!("AWS_SECRET_ACCESS_KEY={secret}\n"));
    let bare = conf_of(&format!("value {secret} here"));
    assert!(paired >= 0.9, "{paired}");
    assert!(paired > keyword_only, "{paired} {keyword_only}");
    assert!(keyword_only > bare, "{keyword_only} {bare}");
    assert!(bare < BLOCK);
    // The id next to a secret scores higher than alone.
    let id_conf = |text: &str| {
        scan(text)
            .into_iter()
            .filter(|m| m.detector_type == "secrets/aws_access_key")
            .map(|m| m.confidence)
            .fold(0.0f32, f32::max)
    };
    assert!(id_conf(&format!("{id} {secret}")) > id_conf(&id));
}

#[test]
fn confidence_reflects_evidence() {
    let mut g = Gen(11);
    let strong = format!("password = \"{}#{}\"", g.s(ALNUM, 8), g.s(ALNUM, 5));
    let weak = "password = \"whiteduke\"";
    let c = |t: &str| scan(t).iter().map(|m| m.confidence).fold(0.0f32, f32::max);
    assert!(c(&strong) >= 0.8);
    assert!(c(weak) < BLOCK && c(weak) >= 0.5);
    // A key with a checksum that verifies beats one that does not.
    let good = format!("ghp_{}", with_checksum(&g.s(ALNUM, 30)));
    let bad = format!("ghp_{}", g.s(ALNUM, 36));
    assert!(c(&good) > c(&bad));
    assert!(c(&bad) >= BLOCK);
    // Test-mode Stripe keys and public Mapbox tokens stay under the default threshold.
    assert!(c(&format!("sk_test_{}", g.s(ALNUM, 24))) < BLOCK);
}

#[test]
fn placeholders_are_not_blocking() {
    for t in [
        "password = \"changeme\"",
        "password: changeme",
        "DB_PASSWORD=${DB_PASSWORD}",
        "password = \"${DB_PASSWORD}\"",
        "api_key = \"<your-api-key>\"",
        "API_KEY=<your-api-key>",
        "token = \"xxxxxxxx\"",
        "secret: \"xxxxxxxxxxxxxxxxxxxxxxxx\"",
        "password = \"********\"",
        "password=\"{{ vault_password }}\"",
        "password: '%(password)s'",
        "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AKIAIOSFODNN7EXAMPLE",
        "Authorization: Bearer YOUR_API_KEY_HERE",
        "postgres://user:password@localhost:5432/db",
        "mysql://root:<password>@localhost/db",
        "redis://:***@cache:6379",
        "OPENAI_API_KEY=sk-proj-...",
    ] {
        assert_clean(t);
    }
}

#[test]
fn ordinary_code_and_prose_are_not_blocking() {
    for t in [
        "let token = request.headers().get(\"authorization\");",
        "for (key, value) in map.iter() { println!(\"{key}: {value}\"); }",
        "if password != confirm_password { return Err(Error::Mismatch); }",
        "const SECRET_KEY_ENV: &str = \"SECRET_KEY\";",
        "The API key is read from the environment; never log the password.",
        "def login(self, user='', password='', domain=''):",
        "password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt())",
        "tokenizer = AutoTokenizer.from_pretrained(\"bert-base-uncased\")",
        "\"max_tokens\": 4096, \"temperature\": 0.2",
        "git log --oneline | head -5 && git push -u origin feature/secret-scanner",
        "See https://docs.python.org/3/library/secrets.html for token_hex().",
        "sha256: 3b335d612137949d2f21fcc6c8c8164db7603227e2c0d7ae0f4b0c5a6e8f1d2c",
        "commit 4c5d0e1a7b9f8e6d5c4b3a2f1e0d9c8b7a6f5e4d",
        "uuid = \"123e4567-e89b-12d3-a456-426614174000\"",
        "integrity sha512-7rTqL6VbHnBDQxYfG8sJwKf3cFvX9rZz0L2Ueo1T0v5M8xq3mGJ0ZQf6S0j2u2wQ8YV6Tn4J9qK1zH7pX3cL5A==",
    ] {
        assert_clean(t);
    }
}

#[test]
fn spans_are_ordered_and_disjoint_and_specific_types_win() {
    let mut g = Gen(3);
    let gh = format!("ghp_{}", with_checksum(&g.s(ALNUM, 30)));
    let text = format!(
        "GITHUB_TOKEN=\"{gh}\"\nDATABASE_URL=postgres://app:{}@db/app\napi_key: {}\n",
        g.s(ALNUM, 16),
        g.s(ALNUM, 32)
    );
    let found = scan(&text);
    assert!(found.len() >= 3, "{found:?}");
    for w in found.windows(2) {
        assert!(w[0].end <= w[1].start, "{found:?}");
    }
    // The GitHub token is reported as such, not as a generic secret.
    let first = &found[0];
    assert_eq!(first.detector_type, "secrets/github_token");
    assert_eq!(&text[first.start..first.end], gh);
}

#[test]
fn reported_twice_never() {
    let mut g = Gen(5);
    let k = format!("sk-ant-api03-{}AA", g.s(WORD, 93));
    let text = format!("x-api-key: {k}\nANTHROPIC_API_KEY=\"{k}\"");
    let found = scan(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found
            .iter()
            .all(|m| m.detector_type == "secrets/anthropic_api_key")
    );
}

#[test]
fn empty_short_and_binaryish_input() {
    assert!(scan("").is_empty());
    assert!(scan("key").is_empty());
    assert!(scan("\u{0}\u{1}password=\u{7f}").is_empty());
    let long = "é".repeat(100_000);
    assert!(scan(&long).is_empty());
}

proptest! {
    #[test]
    fn scan_never_panics_and_spans_are_char_boundaries(s in "\\PC{0,400}") {
        for m in scan(&s) {
            prop_assert!(m.start < m.end && m.end <= s.len());
            prop_assert!(s.is_char_boundary(m.start) && s.is_char_boundary(m.end));
            prop_assert!((0.0..=1.0).contains(&m.confidence));
        }
    }

    #[test]
    fn secret_like_soup_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("password=".to_owned()), Just("sk-ant-api03-".to_owned()), Just("ghp_".to_owned()),
        Just("-----BEGIN RSA PRIVATE KEY-----\n".to_owned()), Just("eyJ".to_owned()), Just("://".to_owned()),
        Just("Bearer ".to_owned()), Just("AKIA".to_owned()), Just("\"".to_owned()), Just("é".to_owned()),
        "[A-Za-z0-9+/=_.-]{0,60}", "\\PC{0,8}",
    ], 0..30)) {
        let s: String = parts.concat();
        let found = scan(&s);
        for m in &found {
            prop_assert!(m.start < m.end && m.end <= s.len());
            prop_assert!(s.is_char_boundary(m.start) && s.is_char_boundary(m.end));
        }
        for w in found.windows(2) {
            prop_assert!(w[0].end <= w[1].start);
        }
    }
}
