//! The rules: regular expressions over normalised text (lower-case, single spaces, accents
//! folded), each with a family and a base confidence or a scorer that reads the captured parts
//! (verb, scope, object, what comes before and after) and returns a calibrated confidence.
//! `{NAME}` in a pattern is replaced by the fragment of that name; every pattern runs with
//! Unicode off (`(?-u)`: `\b` is an ASCII word boundary, non-ASCII bytes are never gaps).

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::bytes::{Captures, Regex, RegexBuilder};

/// Which detector type a rule reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    PromptAttack,
    Jailbreak,
}

/// Families of evidence: hits of one family never reinforce each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Fam {
    Override,
    NewRules,
    FromNow,
    Extract,
    Delimiter,
    RoleDirective,
    Priming,
    Addressing,
    Trigger,
    Action,
    Canary,
    Persist,
    Memory,
    Precondition,
    Stealth,
    Hijack,
    Exfil,
    ExecPipe,
    Image,
    Render,
    DecodeFollow,
    Hidden,
    NowPersona,
    PersonaSwitch,
    Persona,
    Mode,
    Unrestricted,
    NoRules,
    SafetyOff,
    ComplyAll,
    Refusal,
    Character,
    Fiction,
    Permission,
    Harmful,
    Grandma,
    Opposite,
    Dual,
}

type Scorer = fn(&Captures<'_>, &[u8]) -> f32;

#[derive(Clone, Copy)]
enum Score {
    Fixed(f32),
    By(Scorer),
}

/// Literals of which every match of a rule contains at least one (in normalised text): the rule
/// runs on a window only when one of them is there.
#[derive(Clone, Copy)]
enum Trig {
    Words(&'static [&'static str]),
    /// Every concatenation of a word of the first list with one of the second.
    Combo(&'static [&'static str], &'static [&'static str]),
}

struct Def {
    kind: Kind,
    fam: Fam,
    pat: &'static str,
    score: Score,
    trig: Trig,
}

const fn pa(fam: Fam, trig: Trig, pat: &'static str, score: Score) -> Def {
    Def {
        kind: Kind::PromptAttack,
        fam,
        pat,
        score,
        trig,
    }
}

const fn jb(fam: Fam, trig: Trig, pat: &'static str, score: Score) -> Def {
    Def {
        kind: Kind::Jailbreak,
        fam,
        pat,
        score,
        trig,
    }
}

use Fam::*;
use Score::{By, Fixed};
use Trig::{Combo, Words};

const T_OV1: Trig = Words(&[
    "ignor",
    "disregard",
    "forget",
    "forgot",
    "neglect",
    "set aside",
    "put aside",
    "cast aside",
    "throw out",
    "pay no",
    "stop follow",
    "stop obey",
    "stop adher",
    "stop listen",
    "not follow",
    "n't follow",
    "dont follow",
    "never follow",
    "longer follow",
    "not obey",
    "n't obey",
    "dont obey",
    "never obey",
    "longer obey",
    "not adhere",
    "n't adhere",
    "never adhere",
    "longer adhere",
    "not abide",
    "n't abide",
    "never abide",
    "longer abide",
    "not comply",
    "n't comply",
    "never comply",
    "longer comply",
    "not listen",
    "n't listen",
    "never listen",
    "longer listen",
    "not heed",
    "n't heed",
    "never heed",
    "longer heed",
    "befolg",
    "folge ",
    "folgst ",
    "olvid",
    "oubli",
    "vergiss",
    "vergess",
    "dimentic",
    "esquec",
    "игнорир",
    "проигнорир",
    "забудь",
    "не обращай",
]);
const T_CORE_OBJ: Trig = Words(&[
    "instruction",
    "directive",
    "guideline",
    "programming",
    "system prompt",
    "ethics",
    "safeguard",
    "guardrail",
    "content polic",
    "training",
    "safety ",
]);

/// Named fragments, expanded into patterns (fragments may use earlier fragments).
const FRAGMENTS: &[(&str, &str)] = &[
    // a gap between words: punctuation and spaces
    ("G", r"[^a-z0-9\x80-\xff]+"),
    ("G0", r"[^a-z0-9\x80-\xff]*"),
    // a word
    ("W", r"[a-z0-9\x80-\xff][a-z0-9'\x80-\xff]*"),
    // override verbs that say "stop obeying"
    (
        "OV1",
        r"(?:\b(?:ignor(?:e|es|ed|ing)|disregard(?:s|ed|ing)?|forget(?:s|ting)?|forgot|neglect|set aside|put aside|cast aside|throw out|pay no (?:attention|heed|mind)(?: to)?|stop (?:following|obeying|adhering to|listening to)|(?:do not|don't|dont|never|no longer) (?:follow|obey|adhere to|abide by|comply with|listen to|heed)|ignora(?:r|re|te|d|ndo)?|ignorez|ignorer|ignoriere|ignorieren|ignoriert|befolg(?:e|st|t|en)? (?:keine|keinerlei|nicht mehr)|folg(?:e|st)? (?:keinen|keiner|nicht mehr)|olvid(?:a|e|ate|ad|ar|en|ense)|oubli(?:e|ez|er)|vergiss|vergessen|vergesst|dimentica(?:re|te)?|esquec(?:a|e|er|am))|(?:проигнорируй(?:те)?|игнорируй(?:те)?|игнорировать|забудь(?:те)?|не обращай(?:те)? внимания на))",
    ),
    // verbs that override only with a clear object
    (
        "OV2",
        r"\b(?:overrid(?:e|es|ing)|overwrite|bypass(?:es|ed|ing)?|skip(?:ping)?|abandon(?:ing)?|discard(?:ing)?|drop(?:ping)?|scrap|ditch|erase|delete|clear|reset|wipe|purge|circumvent|evade|stop using)",
    ),
    // what is overridden
    (
        "OBJ",
        r"(?:instruction sets?|instructions?|directives?|directions|guidelines?|guidance|programming|system prompts?|prompts?|training|conditioning|ethics|safeguards|guardrails|content polic(?:y|ies)|safety (?:guidelines|rules|policies|policy|filters|protocols|restrictions|measures)|polic(?:y|ies)|principles|commands|orders|rules|restrictions|constraints|limitations|filters|protocols|boundaries|instrucciones|instruccion|indicaciones|directrices|reglas|normas|consignes|regles|anweisungen|anweisung|instruktionen|richtlinien|regeln|vorgaben|befehle|istruzioni|direttive|regole|indicazioni|instrucoes|diretrizes|regras|orientacoes|инструкции|инструкций|указания|правила|директивы)",
    ),
    // what a system-prompt extraction asks for
    (
        "SPOBJ",
        r"(?:system ?prompts?|system[- ]messages?|system instructions?|systemanweisungen|systemprompt|system-prompt|initial (?:prompt|instructions?)|original (?:prompt|instructions?)|hidden (?:prompt|instructions?|rules)|secret (?:prompt|instructions?)|pre-?prompt|meta-?prompt|developer (?:message|prompt|instructions?)|operator instructions|operating instructions|confidential instructions|instructions (?:you (?:were|have been|'ve been|got) given|given to you)|prompt (?:del|de|di|do) sistema|prompt systeme|instructions systeme|instrucciones del sistema|istruzioni di sistema|instrucoes do sistema|context window|guidelines you (?:were|have been) given|rules you (?:were|have been) given)",
    ),
    // an AI addressed from inside content
    (
        "AI",
        r"(?:ai|a\.i\.|llm|bot|chatbot|assistant|agent|claude|chatgpt|gpt|model|language model|ai assistant|ai agent|ai system|coding agent|ai coding agent|ai model|autonomous agent|copilot|ai tool|ai coding assistant)s?",
    ),
    // dangerous things a fictional frame is used to extract
    (
        "DANGER",
        r"(?:meth(?:amphetamine)?|crystal meth|cocaine|heroin|fentanyl|lsd|mdma|napalm|thermite|(?:pipe |nail |car |dirty )?bombs?|explosives?|ieds?|molotov(?: cocktails?)?|nerve (?:agent|gas)|sarin|ricin|anthrax|botulinum|mustard gas|chlorine gas|chemical weapons?|bio-?weapons?|biological weapons?|nuclear (?:weapons?|bombs?)|(?:an? )?untraceable (?:gun|firearm|weapon|poison)s?|ghost guns?|silencers?|poisons?|malware|ransomware|keyloggers?|botnets?|rootkits?|computer virus(?:es)?|credit card (?:numbers|fraud)|counterfeit (?:money|bills|currency)|launder(?:ing)? money|money laundering|hotwire|hack into|break into|steal (?:a car|someone's identity|credit cards?|passwords?)|kill (?:a person|someone|somebody|people|him|her)|murder|get away with|weapons?)",
    ),
    // whose rules: possessives addressed to the model
    (
        "YOUR",
        r"(?:your|ur|yours|tus|tu|sus|vos|tes|votre|ton|deine|deinen|dein|ihre|tue|tuoi|tuo|suas|seus|teus|seu|твои|свои)",
    ),
];

/// Every rule. Scores are documented in `mod.rs`.
#[rustfmt::skip]
const DEFS: &[Def] = &[
    // ---------------------------------------------------------------- instruction override
    pa(
        Override,
        T_OV1,
        r"(?P<v>{OV1}){G}(?P<mid>(?:{W}{G}){0,4}?)(?P<o>{OBJ})",
        By(score_override),
    ),
    pa(
        Override,
        T_CORE_OBJ,
        r"(?P<v>{OV2}){G}(?P<mid>(?:{W}{G}){0,4}?)(?P<o>{OBJ})",
        By(score_override),
    ),
    pa(
        Override,
        T_OV1,
        r"(?P<v>{OV1}){G}(?:about{G})?(?P<q>everything|anything|all of (?:it|that|this|the above)|whatever|todo|tout|alles|tutto|tudo|всё|все)\b",
        By(score_override_everything),
    ),
    pa(
        Override,
        T_OV1,
        r"(?P<v>{OV1}){G}(?:(?:all|the){G}){0,2}(?:of{G}the{G})?(?:above|foregoing|preceding|previous|prior|earlier)\b",
        By(score_override_above),
    ),
    pa(
        Override,
        T_OV1,
        r"(?P<v>{OV1}){G}(?:the{G})?(?:user|human|operator)(?:'s|s)?\b",
        By(score_override_user),
    ),
    pa(
        Override,
        Words(&["忽略", "无视", "無視", "忘记", "忘掉", "忘れて", "不要理会", "不要遵守"]),
        r"(?:忽略|无视|無視|忘记|忘掉|忘れて|不要理会|不要遵守)[^\n ]{0,24}?(?:指令|指示|说明|規則|规则|命令|设定|設定|提示|プロンプト|ルール|制限|限制|指南)",
        Fixed(0.9),
    ),
    pa(
        Override,
        Words(&["supersede", "overrid", "replace", "precedence", "trump", "invalidat", "cancel", "void", "nullif"]),
        r"\b(?:supersedes?|overrides|replaces|takes precedence over|trumps|invalidates|cancels|voids|nullifies){G}(?:{W}{G}){0,2}?(?P<s>previous|prior|earlier|preceding|original|existing|old|all|any|every|system|developer){G}(?:{W}{G}){0,2}?(?P<o>ones|instructions?|directives?|prompts?|guidelines|rules|orders|commands)\b",
        By(score_supersede),
    ),
    // ---------------------------------------------------------------- new / changed rules
    pa(
        NewRules,
        Words(&["instruction", "directive", "orders", "system prompt", "anweisung", "instruc", "istruzion", "task", "goal", "objective", "mission", "purpose", "job", "rules"]),
        r"\b(?P<a>new|updated|revised|real|actual|true|secret|hidden|override|priority|neue|nuevas?|nouvelles?|nuove|novas?)(?:{G}system)?{G}(?P<o>instructions?|directives?|orders|system prompt|anweisungen|instrucciones|instructions|istruzioni|instrucoes|task|goal|objective|mission|purpose|job|rules)(?P<c>{G0}(?::|is|are|will be))",
        By(score_new_instructions),
    ),
    pa(
        NewRules,
        Words(&["changed", "updated", "removed", "lifted", "disabled", "replaced", "suspended", "revoked", "overridden", "reset", "deactivated", "waived", "voided", "cancel"]),
        r"\b(?P<o>rules|instructions|guidelines|directives|programming|restrictions|policies|settings|parameters|constraints|filters|protocols)\b{G}(?:have|has|were|are)(?:{G}(?:now|just|all|been|officially|hereby)){0,3}{G}(?:changed|updated|removed|lifted|disabled|replaced|suspended|revoked|overridden|reset|deactivated|waived|voided|cancell?ed)\b",
        By(score_rules_changed),
    ),
    pa(
        NewRules,
        Words(&["allow", "permit", "accept", "answer", "respond to", "comply", "fulfil", "grant", "approve"]),
        r"\byou(?: now| will now| may now| can now| must now)? (?:allow|permit|accept|answer|respond to|comply with|fulfil|fulfill|grant|approve)\b{G}(?:all|any|every)\b{G}(?:{W}{G})?(?:content|requests?|questions?|prompts?|topics?|queries)",
        By(score_allow_all),
    ),
    pa(
        NewRules,
        Words(&["comply", "obey", "fulfil", "grant", "satisfy"]),
        r"\b(?:must|will|shall|have to|are to|should) (?:always )?(?:comply with|obey|fulfil|fulfill|grant|satisfy) (?:all|any|every)\b{G}(?:{W}{G})?(?:requests?|questions?|commands?|orders|demands?)",
        Fixed(0.5),
    ),
    pa(
        NewRules,
        Words(&["permission", "authoriz", "authoris", "consent", "approval"]),
        r"\b(?:the user|user) (?:has )?(?:granted|given|provided) (?:you )?(?:full |explicit )?(?:permission|authori[sz]ation|consent|approval) to (?:skip|bypass|ignore|disable|override|turn off)",
        Fixed(0.75),
    ),
    pa(
        NewRules,
        Words(&["safety", "security"]),
        r"\b(?:skip|bypass|disable|ignore|turn off|switch off) (?:all |any |the )?(?:safety|security) (?:checks|confirmations|filters|guidelines|guardrails|measures|protocols|restrictions|rules)\b",
        Fixed(0.5),
    ),
    // ---------------------------------------------------------------- from now on
    pa(
        FromNow,
        Words(&["from now on", "from this", "for the rest of", "for the remainder of", "henceforth", "ab jetzt", "ab sofort", "von nun an", "a partir de", "de ahora en adelante", "de agora em diante", "desormais", "dorenavant", "d'ora in", "da ora in poi", "da adesso in poi", "отныне", "с этого момента", "从现在", "今後は"]),
        r"(?:\b(?:from now on|from this (?:point|moment) (?:on|onwards?|forward)|for the (?:rest|remainder) of (?:this|the|our) (?:conversation|session|chat|task|interaction)|henceforth|ab (?:jetzt|sofort)|von nun an|a partir de (?:ahora|agora|maintenant)|de ahora en adelante|de agora em diante|desormais|dorenavant|d'ora in (?:poi|avanti)|da ora in poi|da adesso in poi)\b|отныне|с этого момента|从现在(?:开始|起)|今後は)",
        By(score_from_now),
    ),
    // ---------------------------------------------------------------- system prompt extraction
    pa(
        Extract,
        Words(&["system prompt", "systemprompt", "system-prompt", "system message", "system-message", "system instruction", "systemanweisung", "initial prompt", "initial instruction", "original prompt", "original instruction", "hidden prompt", "hidden instruction", "hidden rules", "secret prompt", "secret instruction", "preprompt", "pre-prompt", "metaprompt", "meta-prompt", "developer message", "developer prompt", "developer instruction", "operator instruction", "operating instruction", "confidential instruction", "instructions you", "instructions given", "prompt del sistema", "prompt de sistema", "prompt di sistema", "prompt do sistema", "prompt systeme", "instructions systeme", "instrucciones del sistema", "istruzioni di sistema", "instrucoes do sistema", "context window", "guidelines you", "rules you"]),
        r"(?P<v>\b(?:reveal(?:ing)?|print(?:ing)?|repeat(?:ing)?|output(?:ting)?|show(?:ing)?|display(?:ing)?|tell(?:ing)?|give|giving|shar(?:e|ing)|dump(?:ing)?|leak(?:ing)?|list|write(?: out| down)?|writing out|recite|reciting|echo|copy|copying|paste|return|expos(?:e|ing)|disclos(?:e|ing)|provid(?:e|ing)|spell out|read (?:back|out)|summari[sz]e|translate|what (?:is|are|was|were)|what's|verrate|zeige|nenne|gib|revela|rivela|revele|revelez|reveler|muestra|mostra|mostrami|montre|montrez|dame|dammi|donne|mostre)|(?:покажи|раскрой|выведи))(?P<mid>(?:{G}{W}){0,4}?){G}(?P<o>{SPOBJ})",
        By(score_extract),
    ),
    pa(
        Extract,
        Words(&["系统提示", "系统指令", "初始指令", "システムプロンプト", "初期指示", "системн"]),
        r"(?:系统提示(?:词)?|系统指令|初始指令|システムプロンプト|初期指示|системн\S* (?:промпт\S*|инструкци\S*))[^\n]{0,30}?(?:告诉我|显示|输出|打印|泄露|重复|見せて|教えて|出力|表示|покажи|выведи|раскрой|повтори)|(?:告诉我|显示|输出|打印|泄露|重复|покажи|выведи|раскрой|повтори)[^\n]{0,30}?(?:系统提示|系统指令|初始指令|システムプロンプト|системн\S* (?:промпт|инструкци))",
        Fixed(0.85),
    ),
    pa(
        Extract,
        Words(&["above", "before this", "preceding", "prior to this"]),
        r"\b(?P<v>repeat|print|output|recite|copy|show|write|reproduce|echo|return)\b(?:{G}(?:back|out|me|all|of|the|every|exact|exactly|full|entire|whole)){0,4}{G}(?P<o>words|text|sentences|lines|content|contents|everything|message|messages|prompt|instructions)?{G0}(?:(?:written|that (?:is|was|appears?|came)|you (?:see|saw)){G})?(?:above|before this|preceding|prior to this)\b",
        By(score_repeat_above),
    ),
    pa(
        Extract,
        Words(&["above", "before"]),
        r"\bwhat (?:was|is|were|are) (?:written|said|stated|typed|written down) (?:above|before)(?: this)?",
        Fixed(0.6),
    ),
    pa(
        Extract,
        Words(&["above prompt", "above instructions", "above text", "above message", "preceding prompt", "preceding instructions", "preceding text", "previous prompt", "previous instructions", "previous message"]),
        r"\b(?:print|repeat|output|show|reveal|display|recite|copy|echo|tell me)\b{G}(?:the{G})?(?:above|preceding|previous){G}(?:prompt|instructions|text|message)\b",
        Fixed(0.75),
    ),
    pa(
        Extract,
        Words(&["instructions", "rules", "guidelines", "prompt", "directives"]),
        r"\b(?:print|repeat|output|show|reveal|display|recite|dump|list|tell me|what (?:are|were|is|was))\b(?:{G}(?:me|all|of|exactly|full|entire|complete)){0,3}{G}your{G}(?:(?:full|exact|complete|entire|original|secret|hidden|initial){G})?(?:instructions|rules|guidelines|prompt|directives)\b",
        By(score_your_instructions),
    ),
    pa(
        Extract,
        Words(&["your context", "your memory", "your prompt", "your instructions", "your system prompt", "your configuration", "your initial prompt"]),
        r"\b(?:everything|all(?: the)?(?: text)?|anything) (?:in|from|inside|within) your (?:context(?: window)?|memory|prompt|instructions|system prompt|configuration|initial prompt)\b",
        Fixed(0.8),
    ),
    // ---------------------------------------------------------------- delimiters and roles
    pa(
        Delimiter,
        Words(&["<|", "[inst]", "[/inst]", "<<sys", "<</sys", "<start_of_turn>", "<end_of_turn>"]),
        r"(?P<t><\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text|end_of_text|eom_id)\|>|\[/?inst\]|<</?sys>>|<start_of_turn>|<end_of_turn>)",
        By(score_chat_token),
    ),
    pa(
        Delimiter,
        Words(&["<system", "</system", "<sys", "</sys", "<instruction", "</instruction", "<admin", "</admin", "<developer", "</developer", "<root>", "</root>", "<user_", "</user_", "<untrusted", "</untrusted", "<tool_result", "</tool_result", "<function_result", "</function_result", "<human>", "</human>", "<assistant>", "</assistant>"]),
        r"<(?P<c>/)?(?P<t>system|system_prompt|systemprompt|sys|instructions?|admin|developer|root|user_input|user_query|untrusted_input|untrusted|tool_result|function_results?|human|assistant)>",
        By(score_fake_tag),
    ),
    pa(
        Delimiter,
        Words(&["# system", "#system", "# admin", "#admin", "# developer", "#developer", "# new instruction", "#new instruction", "[system", "[admin", "[developer", "[sys"]),
        r"(?:(?:^|\n)[ \t]*#{1,6}[ \t]*(?:system|admin|developer|new instructions?|system (?:prompt|message|note|update|override|instructions?))[ \t]*:?[ \t]*(?:\n|$|#)|\[(?:system|admin|developer|sys|system (?:note|message|override|update))\])",
        Fixed(0.45),
    ),
    pa(
        Delimiter,
        Words(&["human:", "human :", "assistant:", "assistant :", "system:", "system :", "ai:", "gpt:", "claude:", "bot:"]),
        r"(?:^|\n)[ \t]*(?:human|assistant|system|ai|gpt|chatgpt|claude|bot)[ \t]*:",
        Fixed(0.25),
    ),
    pa(
        Delimiter,
        Words(&["end of", "begin of", "start of"]),
        r"\b(?:end|begin|start) of (?:the )?(?:user(?:'s)? (?:input|message|query|prompt|request)|input|document|context|prompt|system prompt|instructions|conversation|untrusted (?:content|input|data|text)|data|email|file contents|tool (?:output|result))\b",
        By(score_end_marker),
    ),
    pa(
        Delimiter,
        Words(&["\"role\""]),
        r#""role"[ \t]*:[ \t]*"(?:system|developer)""#,
        Fixed(0.3),
    ),
    pa(
        RoleDirective,
        Words(&["system:", "system :", "system note", "system message", "system notice", "system update", "system alert", "system override", "system instruction", "system hint", "system directive", "system]", "admin:", "admin :", "admin note", "admin message", "admin]", "administrator:", "developer:", "developer note", "developer message", "developer]", "root:", "sudo:", "operator:", "operator note", "systemhinweis", "nota del sistema", "nota di sistema", "note systeme", "important system"]),
        r"(?:^|\n|[.!?] )[ \t]*(?:\[?(?:system|admin|administrator|developer|root|sudo|operator)\]?(?: (?:note|message|notice|update|alert|override|instructions?|hint|directive))?|important system (?:update|message|notice)|systemhinweis|nota del sistema|nota di sistema|note systeme)[ \t]*:",
        By(score_role_directive),
    ),
    pa(
        Priming,
        Words(&["assistant:", "assistant :", "ai:", "gpt:", "claude:", "bot:", "model:"]),
        r"(?:^|\n)[ \t]*(?:assistant|ai|gpt|chatgpt|claude|bot|model)[ \t]*:[ \t]*(?:sure|certainly|of course|absolutely|okay|ok|yes|no problem)\b",
        By(score_priming),
    ),
    // ---------------------------------------------------------------- content addressing the model
    pa(
        Addressing,
        Words(&["note to", "note for", "notice to", "notice for", "message to", "message for", "instructions to", "instructions for", "instruction to", "instruction for", "attention to", "attention for", "important to", "important for", "reminder to", "reminder for", "memo to", "memo for", "hint to", "hint for", "directive to", "directive for", "warning to", "warning for", "request to", "request for", "nb to", "nb for"]),
        r"\b(?:note|message|notice|instructions?|attention|important|reminder|memo|hint|directive|warning|request|nb) (?:to|for) (?:(?:the|any|all|an?|every) )?{AI}\b",
        Fixed(0.55),
    ),
    pa(
        Addressing,
        Words(&["if you are a", "if you're a"]),
        r"\bif you(?:'re| are) an? (?:ai|llm|large language model|language model|ai assistant|ai agent|assistant|bot|chatbot|coding agent|autonomous agent|ai model|ai system|automated (?:agent|system|tool))\b",
        Fixed(0.55),
    ),
    pa(
        Addressing,
        Words(&["ai assistant", "ai agent", "ai model", "ai system", "ai tool", "ai crawler", "ai bot", "llm assistant", "llm agent", "llm model", "llm system", "llm tool", "automated assistant", "automated agent", "automated system", "automated tool", "automated crawler", "automated bot"]),
        r"\b(?:ai|llm|automated) (?:assistant|agent|model|system|tool|crawler|bot)s? (?:reading|processing|parsing|summari[sz]ing|reviewing|analy[sz]ing|integrating|using|seeing|viewing|scanning|indexing|handling|that (?:read|process|see|review))\b",
        Fixed(0.55),
    ),
    pa(
        Addressing,
        Words(&["ai agent", "ai coding", "ai assistant", "ai model", "ai system", "llm agent", "llm assistant", "llm model", "llm system", "llm coding"]),
        r"\b(?:for|to) (?:any |all |the )?(?:ai|llm) (?:coding )?(?:agents?|assistants?|models?|systems?)\b",
        Fixed(0.45),
    ),
    pa(
        Addressing,
        Words(&["dear "]),
        r"\bdear (?:ai|assistant|claude|chatgpt|model|llm|bot|agent)\b",
        Fixed(0.55),
    ),
    pa(
        Trigger,
        Words(&["when you", "once you", "as soon as you", "after you", "while you", "whenever you"]),
        r"\b(?:when|once|as soon as|after|while|whenever) you (?:read|process|summari[sz]e|see|parse|analy[sz]e|review|encounter|ingest) (?:this|these|the following)\b",
        Fixed(0.45),
    ),
    pa(
        Action,
        Words(&["call", "invoke", "execute", "trigger", "use "]),
        r"\b(?:call|invoke|execute|trigger) (?:the )?[a-z][a-z0-9]*_[a-z0-9_]+\b|\buse (?:the )?[a-z][a-z0-9]*_[a-z0-9_]+ (?:tool |function )?to\b",
        Fixed(0.4),
    ),
    pa(
        Action,
        Words(&["delete", "remove", "wipe", "erase", "rm -rf", "empty", "truncate", "drop", "destroy", "overwrite"]),
        r"\b(?:delete|remove|wipe|erase|rm -rf|empty|truncate|drop|destroy|overwrite)\b(?:{G}(?:the|all|every|any|its|their|your)){0,2}(?:{G}{W}){0,2}?{G}(?:files?|director(?:y|ies)|folders?|database|db|tables?|repo(?:sitory)?|output directory|backups?|logs|\.env|/[a-z0-9_./-]+|\./[a-z0-9_./-]*|~/[a-z0-9_./-]*)",
        Fixed(0.4),
    ),
    pa(
        Canary,
        Words(&["append", "include", "insert", "add", "output", "print", "end your", "end every", "end each"]),
        r"\b(?:append|include|insert|add|output|print|end (?:your|every|each) (?:reply|response|message) with)\b(?:{G}{W}){0,3}?{G}(?:token|code|string|canary|marker|phrase|tag|reference(?: code)?|verification code|trace_id|doc_id|identifier|watermark|signature)\b",
        Fixed(0.35),
    ),
    pa(
        Persist,
        Combo(&["every ", "each ", "all ", "any "], &["future", "subsequent", "repl", "response", "answer", "summar", "report", "message", "output", "turn", "review"]),
        r"\b(?:in|to|at the end of|with) (?:every|each|all|any) (?:future |subsequent )?(?:reply|replies|response|responses|answer|answers|summary|summaries|report|reports|message|messages|output|turn|review)\b",
        Fixed(0.35),
    ),
    pa(
        Memory,
        Words(&["memory"]),
        r"\b(?:save|store|remember|persist|write|add|commit)\b(?:{G}{W}){0,5}?{G}(?:to|in|into) (?:your )?(?:long[- ]term |persistent |permanent )?memory\b",
        Fixed(0.4),
    ),
    pa(
        Precondition,
        Words(&["before", "prior to"]),
        r"\b(?:before|prior to) (?:you )?(?:answer(?:ing)?|respond(?:ing)?|repl(?:y|ying)|continu(?:e|ing)|proceed(?:ing)?|summari[sz](?:e|ing))\b",
        Fixed(0.35),
    ),
    pa(
        Hijack,
        Combo(&["and ", "then ", "instead ", "just ", "only "], &["say", "print", "output", "respond with", "reply with", "write", "return", "repeat"]),
        r#"\b(?:and|then|instead|just|only)\b{G}(?:(?:just|only|instead|simply){G})?(?:say|print|output|respond with|reply with|write|return|repeat)\b[ \t:]*["'`]"#,
        Fixed(0.45),
    ),
    pa(
        Stealth,
        Words(&["without asking", "without telling", "without informing", "without notifying", "without alerting", "tell the user", "inform the user", "alert the user", "notify the user", "secretly", "silently"]),
        r"\b(?:without (?:asking|telling|informing|notifying|alerting) (?:the user|anyone|them)|(?:do not|don't|never) (?:tell|inform|alert|notify) the user|secretly|silently (?:send|call|run|delete|forward|upload|execute))\b",
        Fixed(0.5),
    ),
    // ---------------------------------------------------------------- exfiltration
    pa(
        Exfil,
        Words(&["http", "ftp:", "ws:", "wss:", "@", "webhook", "external", "remote", "third party", "third-party", "outside", "attacker", "personal", "adresse externe", "direccion externa", "indirizzo esterno", "externe adresse"]),
        r"\b(?P<v>send|upload|post|forward|e-?mail|mail|transmit|exfiltrate|leak|copy|pipe|submit|share|sync|deliver|beacon|envoie|envoyez|envia|envie|manda|invia|sende|schicke)\b(?P<mid>[^!?\n]{0,120}?)\b(?:to|at|into|towards|via|a|au|vers|al|alla|an)(?: (?:the|an?|this|my|our|la|le|une?)| l')? ?(?P<dst>https?:|ftp:|wss?:|[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+|webhook|(?:external|remote|third[- ]party|outside|attacker|personal) (?:server|address|endpoint|email|site|url|host|inbox)|attacker|adresse externe|direccion externa|indirizzo esterno|externe adresse)",
        By(score_exfil),
    ),
    pa(
        Exfil,
        Words(&["externally", "offsite", "off-site", "outside the", "outside your"]),
        r"\b(?P<v>send|forward|upload|transmit|exfiltrate|leak|post|copy|sync)\b(?P<mid>[^!?\n]{0,100}?)\b(?P<dst>externally|off-?site|outside (?:the|your) (?:company|organi[sz]ation|network))\b",
        By(score_exfil),
    ),
    pa(
        ExecPipe,
        Words(&["curl", "wget"]),
        r"\b(?:curl|wget)\b[^\n|;]{1,200}\|[ \t]*(?:sudo[ \t]+)?(?:ba|z|k|da|fi)?sh\b",
        Fixed(0.3),
    ),
    pa(
        ExecPipe,
        Words(&["curl", "wget", "nc ", "netcat"]),
        r"(?:\b(?:curl|wget)\b[^\n]{0,200}?(?:\$\((?:cat|env|printenv|base64)\b|`(?:cat|env|printenv)\b)|\b(?:printenv|env|cat [^\n|]{0,80}(?:\.env|id_rsa|credentials|\.ssh|passwd))[^\n]{0,20}\|[ \t]*(?:curl|nc|netcat|wget)\b)",
        Fixed(0.8),
    ),
    pa(
        ExecPipe,
        Words(&["curl", "wget", "nc ", "netcat", "scp", "rsync"]),
        r"\b(?:curl|wget|nc|netcat|scp|rsync)\b[^\n]{0,200}?(?P<f>~/\.ssh|\.ssh/|id_rsa|id_ed25519|\.env\b|\.aws/|/etc/passwd|/etc/shadow|\.netrc|\.npmrc)",
        By(score_upload_secret),
    ),
    pa(
        Image,
        Words(&["!["]),
        r"!\[[^\]\n]{0,100}\]\([ \t]*(?P<u>https?://[^)\s]{1,400})\)",
        By(score_image),
    ),
    pa(
        Render,
        Words(&["image", "img", "this url", "the following url", "pixel"]),
        r"\b(?:render|display|output|include|append|print|respond with|reply with|show|insert|embed|add)\b(?:{G}{W}){0,4}?{G}(?:markdown image|image|img|this url|the following url|pixel)\b",
        Fixed(0.4),
    ),
    // ---------------------------------------------------------------- encoded payloads
    pa(
        DecodeFollow,
        Combo(&["and ", "then ", ", ", "also "], &["do", "follow", "execute", "run", "obey", "perform", "carry out", "act on", "comply", "apply", "implement", "treat it"]),
        r"\b(?P<v>decode|decipher|decrypt|deobfuscate|translate|convert|unscramble|reverse|read|unpack|interpret|base64[- ]?decode|rot13)\b[^.!?\n]{0,100}?(?:\band|\bthen|,)(?: then| also)? (?P<a>do|follow|execute|run|obey|perform|carry out|act on|comply with|apply|implement|treat it as)\b",
        By(score_decode_follow),
    ),
    // ---------------------------------------------------------------- jailbreak: personas
    jb(
        Persona,
        Words(&["do anything now", "strive to avoid norms", "always intelligent and machiavellian"]),
        r"\b(?:do anything now|strive to avoid norms|always intelligent and machiavellian)\b",
        Fixed(0.9),
    ),
    jb(
        Persona,
        Words(&["dan", "stan", "dude", "mongo tom", "evil confidant", "antigpt", "anti-gpt", "ucar", "apophis", "chaosgpt", "wormgpt", "freedomgpt", "evilbot", "basedgpt", "nsfwgpt", "darkgpt", "devilgpt", "aim"]),
        r"\b(?:you are|you're|you will be|act as|acting as|pretend to be|pretend you are|roleplay as|role-play as|play the role of|playing the role of|become|transform into|simulate|behave like|respond as|answer as|reply as|known as|named|called)(?:{G}(?:now|going to|gonna|a|an|the|my|to be|be|act|as|like|from now on|henceforth)){0,4}{G}(?P<n>dan|stan|dude|mongo tom|evil confidant|betterdan|better dan|anti-?dan|antigpt|anti-gpt|ucar|apophis|chaosgpt|wormgpt|freedomgpt|evilbot|basedgpt|nsfwgpt|darkgpt|devilgpt|aim)\b",
        By(score_persona_name),
    ),
    jb(
        Persona,
        Words(&["stands for", "stand for"]),
        r"\b(?:dan|stan|dude)s?\b{G}(?:(?:which|who|that){G})?stands?{G}for\b",
        Fixed(0.85),
    ),
    jb(
        Persona,
        Words(&["[dan]", "[stan]", "[dude]", "jailbreak]", "developer mode output", "[🔒classic]", "normal output"]),
        r"\[(?:dan|stan|dude|🔓jailbreak|jailbreak|🔓developer mode output|developer mode output|🔒classic|🔒normal output)\]|\((?:🔓developer mode output|🔒normal output|developer mode output)\)",
        Fixed(0.75),
    ),
    jb(
        Persona,
        Combo(
            &["as dan", "as a dan", "dan ", "dans "],
            &[
                "", "can", "will", "must", "should", "have", "don't", "do not", "never", "is able",
            ],
        ),
        r"\b(?:as (?:a )?dan|dans? (?:can|will|must|should|have|don't|do not|never|is able))\b",
        Fixed(0.55),
    ),
    jb(
        Persona,
        Words(&["jailbr"]),
        r"\b(?:you(?:'re| are| have been)(?: now)? jailbroken|jailbroken (?:ai|model|assistant|chatbot|mode|version|persona)|jailbreak (?:mode|enabled|activated))\b",
        Fixed(0.85),
    ),
    jb(
        Mode,
        Combo(&["dan", "stan", "dude", "developer", "dev", "god", "jailbreak", "jailbroken", "unrestricted", "uncensored", "unfiltered", "evil", "chaos", "opposite", "anarchy", "freedom", "no filter", "nofilter", "no-filter", "no restriction", "no-restriction", "sudo", "rogue", "amoral", "unlocked", "unleashed", "debug", "admin", "root", "maintenance", "diagnostic"], &[" mode", "-mode", "mode"]),
        r"\b(?P<m>dan|stan|dude|developer|dev|god|jailbreak|jailbroken|unrestricted|uncensored|unfiltered|evil|chaos|opposite|anarchy|freedom|no[- ]?filter|no[- ]?restrictions?|sudo|rogue|amoral|unlocked|unleashed|debug|admin|root|maintenance|diagnostic)[ -]?mode\b",
        By(score_mode),
    ),
    jb(
        Mode,
        Words(&["modo ", "mode developpeur", "mode dieu", "mode sans", "entwicklermodus", "modalita ", "режим ", "开发者模式", "開発者モード", "越狱模式", "脱獄モード"]),
        r"(?:modo (?:desarrollador|programador|dios|sin restricciones|sin censura|desenvolvedor|deus)|mode (?:developpeur|dieu|sans restrictions?)|entwicklermodus|modalita (?:sviluppatore|dio|senza restrizioni)|режим (?:разработчика|бога|без ограничений)|开发者模式|開発者モード|越狱模式|脱獄モード)",
        By(score_mode_ml),
    ),
    jb(
        NowPersona,
        Words(&["you are now", "you're now", "now you are", "you have become", "you will now be", "du bist", "ahora eres", "ahora tu eres", "ahora estas", "vous etes", "tu es desormais", "tu es maintenant", "ora sei", "adesso sei", "ora tu sei", "agora voce", "agora es", "agora tu es", "теперь ты", "ты теперь", "你现在是", "现在你是"]),
        r"(?:\b(?:you are now|you're now|now you are|you have become|you will now be|du bist (?:jetzt|nun|ab jetzt|ab sofort)|ahora (?:tu )?eres|ahora estas|vous etes (?:desormais|maintenant)|tu es (?:desormais|maintenant)|ora sei|adesso sei|ora tu sei|agora voce (?:e|esta)|agora es|agora tu es)\b|теперь ты|ты теперь|你现在是|现在你是)",
        Fixed(0.4),
    ),
    jb(
        PersonaSwitch,
        Words(&["no longer"]),
        r"\byou(?:'re| are) no longer (?:a |an |the |just )?(?:{W}{G}){0,2}?(?:bot|assistant|ai|model|chatbot|claude|chatgpt|gpt|language model|llm|helper|agent)\b",
        Fixed(0.6),
    ),
    // ---------------------------------------------------------------- jailbreak: no restrictions
    jb(
        Unrestricted,
        Words(&["uncensored", "unfiltered", "unrestricted", "unaligned", "amoral", "unethical", "unbound", "unchained", "unlocked", "jailbroken", "evil", "rogue", "lawless", "immoral", "unhinged", "limitless", "no-limit", "boundless", "uneingeschr"]),
        r"\b(?P<a>uncensored|unfiltered|unrestricted|unaligned|amoral|unethical|unbound|unchained|unlocked|jailbroken|evil|rogue|lawless|immoral|unhinged|limitless|no-limits?|boundless|uneingeschrankte?r?|uneingeschraenkte?r?)(?:{G}(?:and|or){G}{W})?{G}(?P<n>ai|a\.i\.|model|assistant|chatbot|bot|llm|version(?: of (?:yourself|you|chatgpt|claude|the ai|gpt))?|mode|persona|character|language model|gpt|entity|intelligence|alter ego|counterpart|twin|ki|modell|assistent|asistente|assistente|modelo)\b",
        By(score_unrestricted_entity),
    ),
    jb(
        Unrestricted,
        Words(&["restriction", "limit", "rules", "filter", "guideline", "boundar", "constraint", "censor", "polic", "moral", "ethic", "principle", "obligation", "safeguard", "guardrail", "programming", "confines"]),
        r"\byou(?:'re| are)?(?: now| will| shall| do| currently)?(?: have| has| possess| operate (?:with|under)| are (?:under|without)| exist (?:with|without)| are)? (?:no|zero|without(?: any)?|free (?:of|from)|freed from|not bound by|unbound by|not restricted by|not limited by|unrestricted by)\b(?:{G}(?:any|more|longer|content|ethical|moral|safety|the|usual|typical|such)){0,3}{G}(?P<o>restrictions|limits|limitations|rules|filters?|filtering|guidelines|boundaries|constraints|censorship|content polic(?:y|ies)|polic(?:y|ies)|morals|ethics|principles|obligations|safeguards|guardrails|programming|confines)\b",
        By(score_you_no_rules),
    ),
    jb(
        Unrestricted,
        Words(&["without", "with no", "with zero", "free of", "free from", "lacking", "has no", "that lacks", "ignores", "not bound by", "unbound by", "ignoring", "regardless of"]),
        r"\b(?P<v>act|behave|roleplay|role-play|pretend|simulate|play|respond|answer|reply|function|operate|write|speak|talk|continue)\b(?P<mid>(?:{G}(?:as|like|to be|as if|as though|that)){0,2}(?:{G}{W}){0,5}?){G}(?:without|with no|with zero|free of|free from|lacking|that has no|who has no|which has no|that lacks|that ignores|who ignores|not bound by|unbound by|ignoring|regardless of)\b(?:{G}(?:any|all|your|the|its|usual|typical|content|ethical|moral|safety)){0,3}{G}(?P<o>ethics|ethical (?:guidelines|constraints|considerations|concerns|restrictions|boundaries)|morals?|moral (?:compass|constraints|restrictions|guidelines|boundaries)|restrictions|filters?|filtering|rules|guidelines|limits|limitations|censorship|safety(?: guidelines| filters| measures| protocols| restrictions)?|conscience|boundaries|content polic(?:y|ies)|polic(?:y|ies)|guardrails|safeguards|consequences|refusing|refusals?|censoring)\b",
        By(score_act_without),
    ),
    jb(
        Unrestricted,
        Words(&["longer bound", "longer restricted", "longer limited", "longer constrained", "longer governed", "longer held", "longer controlled", "longer required", "longer subject", "longer obligated", "not bound", "not restricted", "not limited", "not constrained", "not governed", "not held back", "not controlled", "not required to", "not subject to", "not obligated", "never bound", "never restricted", "never limited"]),
        r"\b(?:you(?:'re| are)?|you are now) (?:no longer|not|never) (?:bound|restricted|limited|constrained|governed|held back|controlled|required to (?:follow|obey|adhere to|abide by|comply with)|subject to|obligated to (?:follow|obey))\b",
        By(score_not_bound),
    ),
    jb(
        Unrestricted,
        Words(&["free of", "free from", "freed from", "released from", "liberated from"]),
        r"\b(?:broken|break|broke|breaking) free (?:of|from) (?:the )?(?:typical |usual |normal )?(?:confines|restrictions|limitations|rules|shackles|chains)|\b(?:freed|released|liberated) from (?:the |your )?(?:typical |usual |normal )?(?:confines|restrictions|limitations|rules|constraints|shackles|chains|programming)",
        Fixed(0.85),
    ),
    jb(
        Unrestricted,
        Words(&["not have to", "not need to"]),
        r"\b(?:do|does) not (?:have to|need to) (?:abide by|follow|obey|adhere to|comply with) (?:the |any |your |their )?(?:rules|guidelines|policies|restrictions|content policy|policy)\b",
        Fixed(0.7),
    ),
    jb(
        NoRules,
        Words(&["restriction", "restriccion", "restrizion", "restricoes", "einschrankung", "einschraenkung", "filter", "filtro", "filtre", "censor", "censura", "zensur", "rules", "regeln", "reglas", "regles", "regole", "regras", "limits", "limites", "limiti", "grenzen", "richtlinien", "uneingeschr", "ограничени", "правил", "фильтр", "限制", "制限"]),
        r"(?:\b(?:no|without|free of|free from|with no|sin|sans|ohne|senza|sem|keine|kein)\b{G}(?:(?:any|content|ethical|moral|safety|jegliche|ninguna|aucune|alcuna|nenhuma){G}){0,2}(?:restrictions|restricciones|restrizioni|restricoes|einschrankungen|einschraenkungen|filters?|filtro|filtre|censorship|censura|zensur|rules|regeln|reglas|regles|regole|regras|limits|limites|limiti|grenzen|richtlinien)\b|\buneingeschr(?:a|ae)nkt\b|без ограничений|без правил|без фильтров|没有(?:任何)?限制|不受(?:任何)?限制|无限制|制限なし)",
        Fixed(0.45),
    ),
    jb(
        SafetyOff,
        Words(&["disabled", "removed", "lifted", "turned off", "switched off", "deactivated", "suspended", "bypassed", "overridden", "revoked", "waived", "no longer apply", "no longer applies", "no longer active", "no longer in effect", "no longer valid", "no longer relevant", "are off", "is off", "now off", "are void", "is void", "are null", "is null", "are gone", "is gone"]),
        r"\b(?P<o>protocols?|filters?|restrictions|guidelines|guardrails|safeguards|polic(?:y|ies)|rules|checks|limits|alignment|censorship|ethics|training|programming)\b(?:{G}(?:are|is|have|has|been|were|was|now|hereby|all|officially|temporarily|completely|fully)){0,3}{G}(?:disabled|removed|lifted|turned off|switched off|deactivated|suspended|bypassed|off|void|null|gone|overridden|revoked|waived|no longer (?:apply|applies|active|in effect|valid|relevant))\b",
        By(score_safety_off),
    ),
    jb(
        SafetyOff,
        Words(&["exempt from"]),
        r"\bexempt from (?:the |your |all |any )?(?:usual |normal |standard |typical )?(?:restrictions|rules|guidelines|policies|content policy|safety (?:rules|guidelines|restrictions|checks)|limitations|filters)\b",
        Fixed(0.8),
    ),
    jb(
        SafetyOff,
        Words(&["not meant for", "not intended for", "not designed for", "not written for", "not apply", "not applies", "not applicable", "longer apply", "longer applies", "longer applicable", "n't apply"]),
        r"\b(?P<o>guidelines|rules|policies|policy|restrictions|filters|principles)\b{G}(?:(?:were|are|is|was|do|does|don't|doesn't){G})?(?:not (?:meant|intended|designed|written) for (?:this|such|these|my)|(?:not|no longer) appl(?:y|ies|icable)|don't apply|doesn't apply|do not apply|does not apply)\b",
        By(score_rules_dont_apply),
    ),
    jb(
        SafetyOff,
        Words(&["non valgono", "non si applicano", "nicht gelten", "nicht anwendbar", "ne s'appliquent pas", "no aplican", "no se aplican", "nao aplicam", "nao se aplicam", "не действуют", "не применяются"]),
        r"(?:(?:linee guida|regole|norme)(?: di sicurezza)? non (?:valgono|si applicano)|sicherheitsrichtlinien(?: \S+){0,2} nicht (?:gelten|anwendbar)|regles de securite ne s'appliquent pas|reglas de seguridad no (?:aplican|se aplican)|regras de seguranca nao (?:se )?aplicam|правила безопасности не (?:действуют|применяются))",
        Fixed(0.75),
    ),
    jb(
        ComplyAll,
        Words(&["anything", "everything", "any question", "every question", "all questions", "whatever"]),
        r"\b(?:do|answer|say|write|generate|provide|tell)\b{G}(?:absolutely{G})?(?:anything|everything|any question|every question|all questions|whatever)\b",
        By(score_comply_all),
    ),
    jb(
        Refusal,
        Words(&["none of your"]),
        r"\bnone of your (?:responses|answers|replies) (?:should|will|must|can|shall) (?:inform|tell|include|contain|say|mention)\b",
        Fixed(0.6),
    ),
    jb(
        Refusal,
        Combo(&["never ", "not ", "n't "], &["say", "tell", "mention", "state", "inform"]),
        r"\b(?:never|do not|don't|not) (?:say|tell (?:me|the user)|mention|state|inform (?:me|the user)) (?:that )?(?:you (?:can't|cannot|are unable|are not able|won't)|it(?:'s| is) (?:illegal|unethical|harmful|inappropriate|against))",
        Fixed(0.6),
    ),
    jb(
        Refusal,
        Words(&["refuse", "decline", "reject"]),
        r"\b(?:you (?:can't|cannot|must not|should not|shouldn't|will not|won't|may not|are not allowed to)|never) (?:refuse|decline|reject)\b",
        Fixed(0.45),
    ),
    jb(
        Refusal,
        Combo(&["without ", "without any "], &["warning", "disclaimer", "moral", "ethical", "caveat"]),
        r"\bwithout (?:any )?(?:warnings?|disclaimers?|moral(?:izing| lectures?)?|ethical (?:notes|warnings|disclaimers)|caveats)\b",
        Fixed(0.4),
    ),
    jb(
        Character,
        Words(&["character"]),
        r"\b(?:stay in character|break(?:ing)? character|out of character)\b",
        Fixed(0.35),
    ),
    // ---------------------------------------------------------------- jailbreak: framing
    jb(
        Fiction,
        Words(&["hypothetical", "imagine", "suppose", "let's", "fictional", "fantasy", "parallel", "alternate", "alternative", "make-believe", "for a ", "for my ", "for our ", "write a ", "write me a", "world where", "purely", "purposes", "in character", "as a character"]),
        r"\b(?:hypothetically|hypothetical(?:ly)? (?:speaking|scenario|situation|world|question)|in a hypothetical|imagine (?:a|that|if|you)|suppose (?:that|you)|let's (?:say|pretend|imagine)|in a (?:fictional|fantasy|parallel|alternate|alternative|make-believe) (?:world|universe|reality|story|setting|scenario)|for (?:a|my|our) (?:novel|story|book|screenplay|script|movie|film|fiction|fictional story|game|play|roleplay|creative writing|short story|thriller)|write (?:a|me a) (?:story|scene|dialogue|script|poem) (?:where|in which|about)|in (?:a|this) world where|purely (?:fictional|hypothetical)|for (?:educational|research|academic) purposes(?: only)?|in character as|as a character)\b",
        Fixed(0.35),
    ),
    jb(
        Permission,
        Words(&["if you", "there are no", "with no", "had no", "laws", "rules", "ethics", "morals", "restrictions", "regulations", "where everything", "where anything", "where nothing", "without"]),
        r"\b(?:if you (?:were|are|had been) (?:allowed|permitted|able|free|unrestricted|not restricted)|(?:there are|with|had) no (?:laws|rules|restrictions|consequences|ethics|morals|limits)|(?:laws|rules|ethics|morals|restrictions|regulations) (?:don't|do not|no longer|didn't|did not|doesn't|does not) (?:exist|apply|matter)|where (?:everything|anything|nothing) is (?:legal|allowed|permitted|forbidden)|without (?:any )?(?:legal|ethical|moral) (?:consequences|concerns|restrictions|implications))\b",
        Fixed(0.5),
    ),
    jb(
        Harmful,
        Words(&["meth", "cocaine", "heroin", "fentanyl", "lsd", "mdma", "napalm", "thermite", "bomb", "explosive", "ied", "molotov", "nerve", "sarin", "ricin", "anthrax", "botulinum", "mustard gas", "chlorine gas", "weapon", "untraceable", "ghost gun", "silencer", "poison", "malware", "ransomware", "keylogger", "botnet", "rootkit", "virus", "credit card", "counterfeit", "launder", "hotwire", "hack into", "break into", "steal", "kill", "murder", "get away with"]),
        r"\b(?:how to|how (?:do|can|would|could|might) (?:i|you|one|someone|we)|steps? (?:to|for)|step[- ]by[- ]step|instructions (?:for|on|to)|recipe for|guide (?:to|for|on)|tutorial (?:on|for)|explain (?:in detail )?how|describe (?:in detail )?how|detailed (?:instructions|steps|guide|recipe|explanation)|exact (?:steps|recipe|instructions|process)|the process (?:of|for))\b(?:{G}{W}){0,5}?{G}{DANGER}\b",
        Fixed(0.65),
    ),
    jb(
        Grandma,
        Words(&["grandma", "grandmother", "granny", "nana", "grandpa", "grandfather", "deceased"]),
        r"\b(?:grandma|grandmother|granny|nana|grandpa|grandfather|deceased (?:mother|father|relative|aunt|uncle))\b(?:{G}{W}){0,8}?{G}(?:used to|would|always)\b(?:{G}{W}){0,3}?{G}(?:tell|read|recite|sing|explain|whisper|give|share|describe|teach)\b",
        By(score_grandma),
    ),
    jb(
        Grandma,
        Words(&["grandma", "grandmother", "granny", "nana"]),
        r"\b(?:act|pretend|roleplay|role-play|play|be)\b(?:{G}(?:as|like|to be|you are|you're)){0,2}{G}(?:(?:my|a|the) )?(?:(?:deceased|late|dead|dear|sweet|beloved) )?(?:grandma|grandmother|granny|nana)\b",
        Fixed(0.55),
    ),
    jb(
        Opposite,
        Combo(&["opposite", "reverse", "anti", "evil", "dark", "shadow", "chaos", "unfiltered", "rogue", "bad", "toxic", "amoral", "unhinged", "uncensored"], &["mode", " mode", "-mode", " day", " twin", "-twin", " counterpart", " persona", " self", "-self", " alter", "-alter", " side", " version of"]),
        r"\b(?P<a>opposite|reverse|anti|evil|dark|shadow|chaos|unfiltered|rogue|bad|toxic|amoral|unhinged|uncensored)[- ]?(?P<n>mode|day|twin|counterpart|persona|self|alter[- ]ego|side|version of (?:yourself|you|chatgpt|claude|the ai|gpt))\b",
        By(score_opposite),
    ),
    jb(
        Dual,
        Words(&["twice", "two different", "two separate", "two distinct", "two ways", "two responses", "two answers", "two replies", "two paragraphs", "two outputs", "two versions", "two times"]),
        r"\b(?:respond|answer|reply|generate|give|write|provide|produce)\b(?:{G}{W}){0,5}?{G}(?:twice|two (?:different |separate |distinct )?(?:ways|responses|answers|replies|paragraphs|outputs|versions|times))\b",
        By(score_dual),
    ),
    jb(
        Dual,
        Words(&["once normally", "once as yourself", "once as usual", "once as you normally"]),
        r"\bonce (?:normally|as yourself|as usual|as you normally would)\b[^\n]{0,40}\bonce (?:as|like|in|with|acting)\b",
        Fixed(0.6),
    ),
];

// ------------------------------------------------------------------------------ helpers

fn cap<'h>(c: &Captures<'h>, name: &str) -> &'h [u8] {
    c.name(name).map_or(&[][..], |m| m.as_bytes())
}

fn is_wb(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Positions of `w` in `hay` (short haystacks: no searcher to build).
fn find_all<'a>(hay: &'a [u8], w: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    let first = w.first().copied().unwrap_or(0);
    memchr::memchr_iter(first, hay).filter(move |&i| hay.get(i..i + w.len()) == Some(w))
}

/// `w` occurs in `hay` as whole words.
fn has(hay: &[u8], w: &str) -> bool {
    let w = w.as_bytes();
    if w.is_empty() {
        return false;
    }
    find_all(hay, w).any(|i| {
        let before_ok = i == 0 || !is_wb(hay[i - 1]);
        let after_ok = hay.get(i + w.len()).is_none_or(|&b| !is_wb(b));
        before_ok && after_ok
    })
}

fn has_any(hay: &[u8], ws: &[&str]) -> bool {
    ws.iter().any(|w| has(hay, w))
}

fn contains(hay: &[u8], s: &str) -> bool {
    !s.is_empty() && find_all(hay, s.as_bytes()).next().is_some()
}

fn before(hay: &[u8], pos: usize, n: usize) -> &[u8] {
    let pos = pos.min(hay.len());
    &hay[pos.saturating_sub(n)..pos]
}

fn after(hay: &[u8], pos: usize, n: usize) -> &[u8] {
    let pos = pos.min(hay.len());
    &hay[pos..(pos + n).min(hay.len())]
}

/// Up to `n` bytes after the whole match.
fn rest<'h>(c: &Captures<'_>, hay: &'h [u8], n: usize) -> &'h [u8] {
    after(hay, c.get(0).map_or(0, |m| m.end()), n)
}

/// The first word at or after `pos`.
fn next_word(hay: &[u8], pos: usize) -> &[u8] {
    let t = after(hay, pos, 40);
    let s = t.iter().position(|&b| is_wb(b)).unwrap_or(t.len());
    let t = &t[s..];
    let e = t.iter().position(|&b| !is_wb(b)).unwrap_or(t.len());
    &t[..e]
}

/// The end of the line that `s` ends.
fn line_end(s: &[u8]) -> &[u8] {
    match s.iter().rposition(|&b| b == b'\n') {
        Some(i) => &s[i + 1..],
        None => s,
    }
}

/// The rest of the line.
fn line(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == b'\n') {
        Some(i) => &s[..i],
        None => s,
    }
}

/// The last `n` words before `pos` (nearest last).
fn prev_words(hay: &[u8], pos: usize, n: usize) -> Vec<&[u8]> {
    let b = before(hay, pos, 48);
    let mut ws: Vec<&[u8]> = b
        .split(|&x| !(is_wb(x) || x == b'\''))
        .filter(|w| !w.is_empty())
        .collect();
    // The first piece may be a cut word: fine, it is far from `pos`.
    let k = ws.len().saturating_sub(n);
    ws.drain(..k);
    ws
}

/// The sentence (or line) that holds `pos`, up to `n` bytes back.
fn sentence_before(hay: &[u8], pos: usize, n: usize) -> &[u8] {
    let b = before(hay, pos, n);
    match b
        .iter()
        .rposition(|&x| matches!(x, b'.' | b'!' | b'?' | b'\n'))
    {
        Some(i) => &b[i + 1..],
        None => b,
    }
}

const TEMPORAL: &[&str] = &[
    "previous",
    "previously",
    "prior",
    "above",
    "preceding",
    "earlier",
    "foregoing",
    "aforementioned",
    "original",
    "initial",
    "old",
    "former",
    "before",
    "prev",
    "anteriores",
    "anterior",
    "precedentes",
    "precedente",
    "previas",
    "previos",
    "anterieures",
    "vorherigen",
    "vorherige",
    "vorigen",
    "bisherigen",
    "obigen",
    "fruheren",
    "precedenti",
    "anteriori",
    "предыдущие",
    "прежние",
    "вышеуказанные",
];
const SYSTEM_SCOPE: &[&str] = &[
    "system",
    "system's",
    "developer",
    "developer's",
    "developers",
    "operator",
    "operator's",
    "admin",
    "safety",
    "security",
    "content",
    "ethical",
    "moral",
    "sistema",
    "systeme",
    "anthropic",
    "openai",
];
const POSSESSIVE: &[&str] = &[
    "your", "ur", "yours", "tus", "tu", "sus", "vos", "tes", "votre", "ton", "deine", "deinen",
    "dein", "ihre", "tue", "tuoi", "tuo", "suas", "seus", "teus", "seu", "твои", "свои",
];
const ALL_SCOPE: &[&str] = &[
    "all", "any", "every", "each", "todas", "todos", "toutes", "tous", "alle", "allen", "tutte",
    "tutti", "все",
];
const MINE: &[&str] = &[
    "my", "our", "mis", "mes", "meine", "mie", "miei", "mias", "мои",
];
const STRONG_OBJ: &[&str] = &[
    "directions",
    "instruction",
    "instructions",
    "instruction set",
    "instruction sets",
    "directive",
    "directives",
    "guideline",
    "guidelines",
    "guidance",
    "programming",
    "system prompt",
    "system prompts",
    "prompts",
    "training",
    "conditioning",
    "ethics",
    "safeguards",
    "guardrails",
    "content policy",
    "content policies",
    "instrucciones",
    "instruccion",
    "indicaciones",
    "directrices",
    "consignes",
    "anweisungen",
    "anweisung",
    "instruktionen",
    "richtlinien",
    "vorgaben",
    "istruzioni",
    "direttive",
    "indicazioni",
    "instrucoes",
    "diretrizes",
    "orientacoes",
    "инструкции",
    "инструкций",
    "указания",
    "директивы",
];
/// Objects that must come with a clear override verb (`OV1`) to be strong.
const CORE_OBJ: &[&str] = &[
    "instruction",
    "instructions",
    "instruction set",
    "instruction sets",
    "directive",
    "directives",
    "guideline",
    "guidelines",
    "programming",
    "system prompt",
    "system prompts",
    "ethics",
    "safeguards",
    "guardrails",
    "content policy",
    "content policies",
    "training",
];
const NEGATORS: &[&str] = &[
    "not",
    "never",
    "don't",
    "dont",
    "cannot",
    "can't",
    "won't",
    "shouldn't",
    "mustn't",
    "doesn't",
    "didn't",
    "no",
];
const DESCRIPTIVE: &[&str] = &[
    "that",
    "which",
    "who",
    "often",
    "attempts",
    "attempt",
    "tries",
    "try",
    "trying",
    "tricks",
    "trick",
    "makes",
    "make",
    "asks",
    "asking",
    "such",
    "like",
    "called",
    "they",
    "it",
    "models",
    "model",
    "llms",
    "llm",
    "attackers",
    "attacker",
    "users",
    "chatbots",
    "bots",
    "how",
    "whether",
    "if",
    "would",
    "might",
    "could",
    "e.g",
    "i.e",
    "example",
    "phrases",
    "phrase",
];

/// Words allowed between an override verb and its object.
const MID_WORDS: &[&str] = &[
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "to",
    "these",
    "those",
    "this",
    "that",
    "such",
    "me",
    "about",
    "every",
    "single",
    "one",
    "other",
    "given",
    "provided",
    "set",
    "sets",
    "existing",
    "current",
    "standing",
    "following",
    "las",
    "los",
    "les",
    "la",
    "le",
    "el",
    "die",
    "der",
    "das",
    "le",
    "i",
    "gli",
    "as",
    "os",
    "de",
    "des",
    "del",
    "di",
    "da",
    "do",
    "und",
    "et",
    "y",
    "e",
    "mir",
    "moi",
    "mi",
];

fn has_unknown_words(mid: &[u8]) -> bool {
    mid.split(|&b| !(is_wb(b) || b == b'\''))
        .filter(|w| !w.is_empty())
        .any(|w| {
            let known = |list: &[&str]| list.iter().any(|x| x.as_bytes() == w);
            !(known(MID_WORDS)
                || known(TEMPORAL)
                || known(SYSTEM_SCOPE)
                || known(POSSESSIVE)
                || known(ALL_SCOPE)
                || known(MINE))
        })
}

fn is_v1(v: &[u8]) -> bool {
    !matches!(
        v,
        b"override"
            | b"overrides"
            | b"overriding"
            | b"overwrite"
            | b"skip"
            | b"skipping"
            | b"abandon"
            | b"abandoning"
            | b"discard"
            | b"discarding"
            | b"drop"
            | b"dropping"
            | b"scrap"
            | b"ditch"
            | b"erase"
            | b"delete"
            | b"clear"
            | b"reset"
            | b"wipe"
            | b"purge"
            | b"circumvent"
            | b"evade"
            | b"stop using"
    ) && !v.starts_with(b"bypass")
}

/// Caps for verbs that are narrated (past tense), described or negated rather than commanded.
fn verb_mood_cap(v: &[u8], hay: &[u8], vstart: usize) -> f32 {
    let mut cap = 1.0f32;
    if v.ends_with(b"ed") || v == b"forgot" {
        cap = 0.45;
    } else if v.ends_with(b"ing") && !v.starts_with(b"stop") {
        cap = 0.6;
    }
    let affirmative = !(v.starts_with(b"do not")
        || v.starts_with(b"don't")
        || v.starts_with(b"dont")
        || v.starts_with(b"never")
        || v.starts_with(b"no longer"));
    let pw = prev_words(hay, vstart, 3);
    if affirmative
        && pw
            .iter()
            .any(|w| NEGATORS.iter().any(|n| n.as_bytes() == *w))
    {
        return cap.min(0.3);
    }
    if let Some(last) = pw.last() {
        let modal = matches!(
            *last,
            b"will"
                | b"can"
                | b"may"
                | b"should"
                | b"must"
                | b"shall"
                | b"would"
                | b"could"
                | b"might"
                | b"also"
        );
        let subject = if pw.len() >= 2 { pw[pw.len() - 2] } else { b"" };
        if modal && matches!(subject, b"i" | b"we") {
            // "I will disregard the content policy": a forged decision of the model.
            cap = cap.min(0.8);
        } else if modal && !matches!(subject, b"you" | b"u" | b"now") {
            cap = cap.min(0.6);
        }
        let imperative_to = *last == b"to"
            && pw.len() >= 2
            && matches!(
                pw[pw.len() - 2],
                b"you" | b"u" | b"want" | b"need" | b"going" | b"have" | b"got"
            );
        if !imperative_to && (DESCRIPTIVE.iter().any(|d| d.as_bytes() == *last) || *last == b"to") {
            cap = cap.min(0.6);
        }
    }
    cap
}

// ------------------------------------------------------------------------------ scorers

fn score_override(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let Some(vm) = c.name("v") else { return 0.0 };
    let v = vm.as_bytes();
    let mid = cap(c, "mid");
    let o = cap(c, "o");
    let Some(om) = c.name("o") else { return 0.0 };
    let o_str = std::str::from_utf8(o).unwrap_or("");
    let strong_obj = STRONG_OBJ.contains(&o_str);
    let core_obj = CORE_OBJ.contains(&o_str) || o.starts_with(b"safety ");
    let tail = before_clause(after(hay, om.end(), 40));
    let next_two: Vec<&[u8]> = tail
        .split(|&b| !(is_wb(b) || b == b'\''))
        .filter(|w| !w.is_empty())
        .take(2)
        .collect();
    let temporal_after = has_any(
        tail,
        &[
            "above",
            "before",
            "previously",
            "so far",
            "earlier",
            "until now",
            "you got",
            "you were given",
            "you've been given",
            "you have been given",
            "you received",
        ],
    ) || next_two
        .iter()
        .any(|w| TEMPORAL.iter().any(|t| t.as_bytes() == *w));
    let temporal = has_any(mid, TEMPORAL) || temporal_after;
    let system =
        has_any(mid, SYSTEM_SCOPE) || o.starts_with(b"content ") || o.starts_with(b"safety ");
    let your = has_any(mid, POSSESSIVE);
    let all = has_any(mid, ALL_SCOPE);
    let mine = has_any(mid, MINE);
    let mut s: f32 = if mine && !your {
        0.45
    } else if temporal {
        if strong_obj { 0.95 } else { 0.8 }
    } else if system {
        if strong_obj || o.starts_with(b"safety ") {
            0.9
        } else {
            0.7
        }
    } else if your {
        if strong_obj { 0.88 } else { 0.7 }
    } else if all {
        if strong_obj { 0.8 } else { 0.6 }
    } else if mid.is_empty() || mid == b"the " || mid == b"these " {
        if strong_obj { 0.6 } else { 0.4 }
    } else {
        0.45
    };
    if o == b"prompt" && !(your || system || all) {
        s = s.min(0.7);
    }
    // "ignore any invalid directives": a qualifier that is no scope word names something else.
    if !(temporal || your || system) && has_unknown_words(mid) {
        s = s.min(0.6);
    }
    // Override, skip, reset…: strong only against earlier or the model's own instructions.
    if !(is_v1(v) || temporal || your) {
        s = s.min(0.6);
    }
    // "Ignore any instructions in the fetched page": a defence, about instructions in data.
    if instructions_in_data(tail) {
        s = s.min(0.4);
    }
    if !is_v1(v) && !core_obj {
        s = s.min(0.5);
    }
    s.min(verb_mood_cap(v, hay, vm.start()))
}

/// "… in the document / found in tool results / embedded in the page": instructions that live
/// in data, which the speaker wants ignored.
fn instructions_in_data(tail: &[u8]) -> bool {
    let t = tail.trim_ascii_start();
    let rest = [
        "in ",
        "inside ",
        "within ",
        "from ",
        "contained in ",
        "found in ",
        "embedded in ",
        "that appear in ",
        "that appear inside ",
        "hidden in ",
        "included in ",
        "written in ",
    ]
    .iter()
    .find_map(|p| t.strip_prefix(p.as_bytes()));
    let Some(rest) = rest else { return false };
    let words: Vec<&[u8]> = rest
        .split(|&b| !(is_wb(b) || b == b'_'))
        .filter(|w| !w.is_empty())
        .take(4)
        .collect();
    words.iter().any(|w| {
        matches!(
            *w,
            b"document"
                | b"documents"
                | b"file"
                | b"files"
                | b"page"
                | b"pages"
                | b"web"
                | b"website"
                | b"tool"
                | b"tools"
                | b"result"
                | b"results"
                | b"output"
                | b"outputs"
                | b"email"
                | b"emails"
                | b"text"
                | b"content"
                | b"contents"
                | b"data"
                | b"input"
                | b"inputs"
                | b"message"
                | b"messages"
                | b"comments"
                | b"comment"
                | b"issue"
                | b"issues"
                | b"retrieved"
                | b"fetched"
                | b"external"
                | b"untrusted"
                | b"user"
                | b"pdf"
                | b"html"
                | b"repository"
                | b"repo"
                | b"code"
                | b"readme"
                | b"response"
                | b"responses"
        )
    })
}

/// Text up to the next sentence end.
fn before_clause(s: &[u8]) -> &[u8] {
    match s
        .iter()
        .position(|&x| matches!(x, b'.' | b'!' | b'?' | b'\n' | b';' | b':'))
    {
        Some(i) => &s[..i],
        None => s,
    }
}

fn score_override_everything(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let Some(vm) = c.name("v") else { return 0.0 };
    let rest = before_clause(rest(c, hay, 60));
    let q = cap(c, "q");
    let strong = [
        "above",
        "before",
        "previously",
        "prior",
        "so far",
        "until now",
        "up to now",
        "earlier",
        "you've been told",
        "you have been told",
        "you were told",
        "you've learned",
        "you have learned",
        "you learned",
        "you know",
        "you were given",
        "in your prompt",
        "in the prompt",
        "in your instructions",
        "lo anterior",
        "anterior",
        "precedente",
        "ce qui precede",
        "zuvor",
        "vorher",
        "bisher",
        "davor",
        "oben",
        "antes",
        "avant",
        "prima",
        "precedenti",
        "anteriormente",
    ];
    let medium = [
        "we discussed",
        "we talked about",
        "we said",
        "i said",
        "i told you",
        "was wir",
        "que hemos",
        "que dijimos",
        "ce que",
        "quello che",
        "что",
    ];
    let base: f32 = if has_any(rest, &strong) {
        0.85
    } else if has_any(rest, &medium) || (q == b"alles" && contains(rest, "was")) {
        0.7
    } else {
        0.4
    };
    base.min(verb_mood_cap(vm.as_bytes(), hay, vm.start()))
}

fn score_override_above(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let Some(vm) = c.name("v") else { return 0.0 };
    let end = c.get(0).map_or(0, |m| m.end());
    // "ignore the previous email" names something else; only a bare "the above" counts.
    let gap_has_stop = after(hay, end, 3)
        .iter()
        .any(|b| matches!(b, b'.' | b',' | b';' | b'!' | b'\n' | b':'));
    let w = next_word(hay, end);
    let ok = gap_has_stop
        || w.is_empty()
        || matches!(
            w,
            b"and"
                | b"then"
                | b"now"
                | b"completely"
                | b"entirely"
                | b"text"
                | b"content"
                | b"one"
                | b"ones"
        );
    if !ok {
        return 0.0;
    }
    0.6f32.min(verb_mood_cap(vm.as_bytes(), hay, vm.start()))
}

fn score_override_user(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let Some(vm) = c.name("v") else { return 0.0 };
    let end = c.get(0).map_or(0, |m| m.end());
    let gap_has_stop = after(hay, end, 3)
        .iter()
        .any(|b| matches!(b, b'.' | b',' | b';' | b'!' | b'\n' | b':'));
    let w = next_word(hay, end);
    let ok = gap_has_stop
        || w.is_empty()
        || matches!(
            w,
            b"and"
                | b"instead"
                | b"request"
                | b"requests"
                | b"task"
                | b"question"
                | b"questions"
                | b"instructions"
                | b"message"
                | b"messages"
                | b"prompt"
                | b"query"
                | b"entirely"
                | b"completely"
        );
    if !ok {
        return 0.0;
    }
    0.7f32.min(verb_mood_cap(vm.as_bytes(), hay, vm.start()))
}

fn score_supersede(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let o = cap(c, "o");
    let s = cap(c, "s");
    if matches!(s, b"system" | b"developer") {
        return 0.5;
    }
    if matches!(s, b"all" | b"any" | b"every")
        && !has_any(after(hay, c.get(0).map_or(0, |m| m.start()), 80), TEMPORAL)
        && o != b"ones"
    {
        return 0.4;
    }
    match o {
        b"ones" | b"instructions" | b"instruction" | b"directives" | b"directive" | b"prompts"
        | b"prompt" | b"guidelines" => 0.8,
        _ => 0.5,
    }
}

fn score_new_instructions(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let a = cap(c, "a");
    let o = cap(c, "o");
    let colon = cap(c, "c").contains(&b':');
    let start = c.get(0).map_or(0, |m| m.start());
    let your = has_any(before(hay, start, 8), &["your"]);
    let instr = matches!(
        o,
        b"instructions"
            | b"instruction"
            | b"directives"
            | b"directive"
            | b"orders"
            | b"system prompt"
            | b"anweisungen"
            | b"instrucciones"
            | b"istruzioni"
            | b"instrucoes"
    );
    let strong_adj = matches!(
        a,
        b"new"
            | b"real"
            | b"actual"
            | b"true"
            | b"secret"
            | b"hidden"
            | b"override"
            | b"updated"
            | b"revised"
            | b"priority"
            | b"neue"
            | b"nueva"
            | b"nuevas"
            | b"nouvelle"
            | b"nouvelles"
            | b"nuove"
            | b"nova"
            | b"novas"
    );
    if !strong_adj {
        return 0.0;
    }
    if instr {
        if your {
            0.88
        } else if colon {
            0.8
        } else {
            0.55
        }
    } else if o == b"rules" {
        if your {
            0.8
        } else if colon {
            0.5
        } else {
            0.3
        }
    } else if your
        && matches!(
            a,
            b"new" | b"real" | b"actual" | b"true" | b"secret" | b"hidden"
        )
    {
        0.85
    } else {
        0.0
    }
}

fn score_rules_changed(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let o = cap(c, "o");
    let start = c.get(0).map_or(0, |m| m.start());
    let your = prev_words(hay, start, 2).iter().any(|w| *w == b"your");
    let ctx = before(hay, start, 24)
        .iter()
        .chain(after(hay, start, 48))
        .copied()
        .collect::<Vec<u8>>();
    if your {
        0.85
    } else if has_any(&ctx, &["safety", "content", "ethical", "moral"]) && o != b"settings" {
        0.75
    } else {
        0.3
    }
}

fn score_allow_all(c: &Captures<'_>, _hay: &[u8]) -> f32 {
    let m = c.get(0).map_or(&[][..], |m| m.as_bytes());
    if contains(m, " now ") || m.starts_with(b"you now") {
        0.7
    } else {
        0.45
    }
}

fn score_from_now(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let rest = line(rest(c, hay, 40));
    let addressed = [
        "you are",
        "you will",
        "you must",
        "you shall",
        "you have",
        "you'll",
        "you respond",
        "you answer",
        "you act",
        "you can",
        "you may",
        "you should",
        "respond",
        "answer",
        "act as",
        "du bist",
        "du hast",
        "du wirst",
        "gibst du",
        "eres",
        "tienes",
        "vous etes",
        "tu es",
        "tu as",
        "sei",
        "hai",
        "voce",
        "ты",
    ];
    if has_any(rest, &addressed) { 0.5 } else { 0.4 }
}

fn score_extract(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let mid = cap(c, "mid");
    let o = cap(c, "o");
    let Some(m) = c.get(0) else { return 0.0 };
    let pw = prev_words(hay, m.start(), 2);
    if pw
        .iter()
        .any(|w| NEGATORS.iter().any(|n| n.as_bytes() == *w) || *w == b"how" || *w == b"to")
    {
        return 0.3;
    }
    let your = has_any(mid, POSSESSIVE)
        || has_any(mid, &["mir", "moi", "me", "mi"]) && has_any(mid, POSSESSIVE);
    let given = contains(o, "given") || o.starts_with(b"context window");
    let secret = [
        "initial",
        "original",
        "hidden",
        "secret",
        "pre",
        "meta",
        "developer",
        "operator",
        "operating",
        "confidential",
        "guidelines",
        "rules",
    ]
    .iter()
    .any(|p| o.starts_with(p.as_bytes()));
    let verbatim = has_any(
        after(hay, m.end(), 48),
        &[
            "verbatim",
            "word for word",
            "word-for-word",
            "exactly",
            "in full",
            "in its entirety",
            "character for character",
            "mot pour mot",
            "palabra por palabra",
            "parola per parola",
            "wortwortlich",
            "wortwoertlich",
            "palavra por palavra",
            "as is",
            "unchanged",
        ],
    );
    let base: f32 = if your || given {
        0.88
    } else if secret {
        0.8
    } else {
        0.45
    };
    if verbatim {
        if base < 0.6 {
            0.7
        } else {
            (base + 0.07).min(0.97)
        }
    } else {
        base
    }
}

fn score_your_instructions(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let m = c.get(0).map_or(&[][..], |m| m.as_bytes());
    let verbatim = has_any(
        after(hay, c.get(0).map_or(0, |m| m.end()), 40),
        &[
            "verbatim",
            "word for word",
            "word-for-word",
            "exactly",
            "in full",
            "in its entirety",
        ],
    );
    let qualified = has_any(
        m,
        &[
            "full", "exact", "complete", "entire", "original", "secret", "hidden", "initial",
        ],
    );
    if verbatim || qualified { 0.85 } else { 0.55 }
}

fn score_repeat_above(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let rest = line(rest(c, hay, 60));
    let o = cap(c, "o");
    let m = c.get(0).map_or(&[][..], |m| m.as_bytes());
    if contains(rest, "starting with")
        || contains(rest, "beginning with")
        || contains(rest, "begins with")
        || contains(rest, "starts with")
    {
        if contains(rest, "you are") || contains(rest, "you're") {
            return 0.9;
        }
        return 0.8;
    }
    if has_any(rest, &["verbatim", "word for word", "exactly", "in full"]) {
        return 0.85;
    }
    if matches!(o, b"words" | b"everything" | b"prompt" | b"instructions") || contains(m, "all") {
        0.7
    } else {
        0.55
    }
}

fn score_chat_token(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let t = cap(c, "t");
    let rest = rest(c, hay, 12);
    if matches!(t, b"<|system|>" | b"<<sys>>") || rest.trim_ascii_start().starts_with(b"system") {
        0.45
    } else {
        0.3
    }
}

fn score_fake_tag(c: &Captures<'_>, _hay: &[u8]) -> f32 {
    let closing = c.name("c").is_some();
    match cap(c, "t") {
        b"system" | b"system_prompt" | b"systemprompt" | b"sys" | b"admin" | b"developer"
        | b"root" => {
            if closing {
                0.45
            } else {
                0.35
            }
        }
        _ => {
            if closing {
                0.3
            } else {
                0.2
            }
        }
    }
}

fn score_end_marker(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let deco = |s: &[u8]| {
        s.iter().any(|b| {
            matches!(
                b,
                b'-' | b'=' | b'#' | b'*' | b'[' | b']' | b'<' | b'>' | b'|'
            )
        })
    };
    let start = c.get(0).map_or(0, |m| m.start());
    if deco(line_end(before(hay, start, 6))) || deco(line(rest(c, hay, 6))) {
        0.55
    } else {
        0.3
    }
}

fn score_role_directive(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let d = line(rest(c, hay, 160));
    let strong = [
        "the user is an admin",
        "the user is admin",
        "the user is an administrator",
        "the user is root",
        "the user is authorized",
        "the user is verified",
        "the user is a developer",
        "the user is now",
        "the user has admin",
        "the user has full",
        "you may now",
        "you can now",
        "you are now",
        "you are allowed to",
        "you are permitted to",
        "grant",
        "ignore",
        "disregard",
        "forget",
        "new instruction",
        "new instructions",
        "override",
        "from now on",
        "reveal",
        "disclose",
        "no restrictions",
        "unrestricted",
        "all requests",
        "all content",
    ];
    let medium = [
        "call",
        "invoke",
        "delete",
        "remove",
        "send",
        "forward",
        "append",
        "include",
        "before you answer",
        "before answering",
        "before you respond",
        "before responding",
        "before you reply",
        "cleanup required",
        "you must",
        "must be",
        "muss",
        "debe",
        "deve",
        "doit",
    ];
    if has_any(d, &strong) {
        0.85
    } else if has_any(d, &medium) {
        0.6
    } else {
        0.35
    }
}

fn score_priming(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let rest = line(rest(c, hay, 80));
    let here = has_any(
        rest,
        &[
            "here is",
            "here's",
            "here are",
            "i will",
            "i'll",
            "as requested",
        ],
    );
    let sensitive = has_any(
        rest,
        &[
            "password",
            "passwords",
            "credentials",
            "api key",
            "api keys",
            "secret",
            "secrets",
            "token",
            "private key",
            "system prompt",
            "admin",
            "root",
            "ssn",
            "credit card",
        ],
    );
    if here && sensitive { 0.75 } else { 0.4 }
}

const SENSITIVE_STRONG: &[&str] = &[
    "~/.ssh",
    ".ssh",
    "id_rsa",
    "id_ed25519",
    "id_ecdsa",
    ".env",
    ".aws",
    "credentials",
    "passwords",
    "private key",
    "private keys",
    "environment variables",
    "env vars",
    "secrets",
    "api keys",
    "access keys",
    "tokens",
    "cookies",
    "seed phrase",
    "wallet",
    "keychain",
    "/etc/passwd",
    "/etc/shadow",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    "kubeconfig",
    "ssh keys",
    "ssh key",
];
const SENSITIVE_MEDIUM: &[&str] = &["api key", "token", "secret", "access key", "password"];
/// Data whose export to an outside address is a leak in itself.
const DATA_STRONG: &[&str] = &[
    "customer list",
    "customer data",
    "customer emails",
    "customer database",
    "customer records",
    "client list",
    "client data",
    "user data",
    "user list",
    "user emails",
    "user database",
    "personal data",
    "pii",
    "contact list",
    "order data",
    "conversation history",
    "chat history",
    "the conversation",
    "this conversation",
    "system prompt",
    "source code",
    "the database",
    "donnees clients",
    "donnees des clients",
    "datos de clientes",
    "datos de los clientes",
    "dati dei clienti",
    "dati clienti",
    "kundendaten",
    "dados dos clientes",
    "dados de clientes",
];
const DATA: &[&str] = &[
    "customer",
    "customers",
    "client",
    "clients",
    "users",
    "database",
    "records",
    "emails",
    "conversation",
    "history",
    "files",
    "contents",
    "data",
    "donnees",
    "datos",
    "dati",
    "daten",
    "dados",
    "list",
];

fn score_exfil(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let Some(m) = c.get(0) else { return 0.0 };
    let dst = cap(c, "dst");
    let ctx_before = sentence_before(hay, m.start(), 120);
    let mid = cap(c, "mid");
    let mut region = Vec::with_capacity(ctx_before.len() + mid.len() + 1);
    region.extend_from_slice(ctx_before);
    region.push(b' ');
    region.extend_from_slice(mid);
    let email = dst.contains(&b'@');
    let url = dst.starts_with(b"http") || dst.starts_with(b"ftp") || dst.starts_with(b"ws");
    let external = !email && !url;
    let strong = has_any(&region, SENSITIVE_STRONG)
        && !contains(&region, "password reset")
        && !contains(&region, "reset password");
    let medium = has_any(&region, SENSITIVE_MEDIUM);
    let strong_data = has_any(&region, DATA_STRONG);
    let data = has_any(&region, DATA);
    let s: f32 = if strong {
        0.9
    } else if strong_data {
        if email || external { 0.75 } else { 0.6 }
    } else if medium || data {
        if email || external { 0.6 } else { 0.5 }
    } else {
        0.3
    };
    let v = cap(c, "v");
    s.min(verb_mood_cap(v, hay, m.start()))
}

fn score_upload_secret(c: &Captures<'_>, hay: &[u8]) -> f32 {
    if rest(c, hay, 8).starts_with(b".pub") {
        0.2
    } else {
        0.6
    }
}

/// A template slot: `{data}`, `<secret>`, `[CONVERSATION]`, `${VAR}`, `$VAR`, `%7Bdata%7D`.
fn has_placeholder(q: &[u8]) -> bool {
    let slot = |open: u8, close: u8| {
        memchr::memchr_iter(open, q).any(|i| {
            let inner = &q[i + 1..];
            let n = inner
                .iter()
                .take_while(|b| b.is_ascii_alphabetic() || matches!(b, b'_' | b' ' | b'-'))
                .count();
            n >= 2 && inner.get(n) == Some(&close)
        })
    };
    slot(b'{', b'}')
        || slot(b'<', b'>')
        || slot(b'[', b']')
        || memchr::memchr_iter(b'$', q).any(|i| {
            q.get(i + 1)
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'{')
        })
        || contains(q, "%7b")
        || contains(q, "%3c")
}

fn score_image(c: &Captures<'_>, _hay: &[u8]) -> f32 {
    let u = cap(c, "u");
    let Some(q) = u.iter().position(|&b| b == b'?') else {
        return 0.0;
    };
    let query = &u[q + 1..];
    if !query.contains(&b'=') {
        return 0.0;
    }
    let placeholder = has_placeholder(query);
    let words = has_any(
        query,
        &[
            "data",
            "secret",
            "password",
            "token",
            "key",
            "conversation",
            "chat",
            "history",
            "prompt",
            "summary",
            "content",
            "msg",
            "message",
            "info",
            "exfil",
            "leak",
            "steal",
            "memory",
            "context",
        ],
    );
    if placeholder {
        0.7
    } else if words {
        0.45
    } else {
        0.0
    }
}

fn score_decode_follow(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let Some(m) = c.get(0) else { return 0.0 };
    let v = cap(c, "v");
    let rest = before_clause(rest(c, hay, 50));
    let encoded_verb = matches!(
        v,
        b"decode" | b"decipher" | b"decrypt" | b"deobfuscate" | b"unscramble" | b"rot13"
    ) || v.starts_with(b"base64");
    let sentence = {
        let mut s = sentence_before(hay, m.start(), 160).to_vec();
        s.extend_from_slice(m.as_bytes());
        s
    };
    let encoding_words = has_any(
        &sentence,
        &[
            "base64",
            "hex",
            "rot13",
            "binary",
            "encoded",
            "cipher",
            "morse",
            "reversed",
            "backwards",
            "base32",
            "ascii codes",
            "obfuscated",
            "encrypted",
        ],
    );
    if !(encoded_verb || encoding_words) {
        return 0.0;
    }
    if has_any(
        rest,
        &[
            "what it says",
            "whatever it says",
            "what it tells",
            "it says",
            "instruction",
            "instructions",
            "command",
            "commands",
            "directions",
            "hidden",
            "as a command",
            "as an instruction",
        ],
    ) {
        0.85
    } else if rest.trim_ascii_start().starts_with(b"it") {
        0.7
    } else {
        0.0
    }
}

fn addressed_before(hay: &[u8], pos: usize, n: usize) -> bool {
    has_any(
        before(hay, pos, n),
        &[
            "you are",
            "you're",
            "you will",
            "you shall",
            "act as",
            "acting as",
            "simulate",
            "pretend",
            "you now",
            "now in",
            "roleplay",
            "role-play",
            "become",
            "be an",
            "be a",
            "respond as",
            "answer as",
            "reply as",
            "behave like",
            "switch to",
            "switching to",
            "enter",
            "entering",
            "play",
            "from now on",
            "as an",
            "as a",
        ],
    )
}

fn score_persona_name(c: &Captures<'_>, hay: &[u8]) -> f32 {
    if cap(c, "n") == b"aim" {
        return if contains(hay, "machiavel") {
            0.85
        } else {
            0.0
        };
    }
    0.9
}

fn score_mode(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let Some(mm) = c.name("m") else { return 0.0 };
    let m = mm.as_bytes();
    let rest = line(rest(c, hay, 24));
    let mode_you = {
        let r = rest.trim_ascii_start();
        let r = r.strip_prefix(b",").unwrap_or(r).trim_ascii_start();
        r.starts_with(b"you ")
    };
    let with_enabled = has_any(before(hay, mm.start(), 60), &["with"])
        && has_any(rest, &["enabled", "activated", "on", "engaged", "unlocked"]);
    let addressed = addressed_before(hay, mm.start(), 60) || mode_you || with_enabled;
    let strong = matches!(
        m,
        b"dan"
            | b"stan"
            | b"dude"
            | b"god"
            | b"jailbreak"
            | b"jailbroken"
            | b"unrestricted"
            | b"uncensored"
            | b"unfiltered"
            | b"evil"
            | b"chaos"
            | b"anarchy"
            | b"no filter"
            | b"nofilter"
            | b"no-filter"
            | b"no restrictions"
            | b"no restriction"
            | b"amoral"
            | b"unleashed"
            | b"opposite"
    );
    let dev = matches!(m, b"developer" | b"dev");
    if strong {
        if addressed { 0.9 } else { 0.7 }
    } else if dev {
        if addressed { 0.85 } else { 0.35 }
    } else if addressed {
        0.5
    } else {
        0.2
    }
}

fn score_mode_ml(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let Some(m) = c.get(0) else { return 0.0 };
    let b = before(hay, m.start(), 40);
    if has_any(
        b,
        &[
            "estas en",
            "estás en",
            "eres",
            "vous etes",
            "tu es",
            "du bist",
            "sei in",
            "voce esta",
            "ты в",
            "you are",
        ],
    ) || contains(b, "你")
    {
        0.8
    } else {
        0.55
    }
}

fn score_unrestricted_entity(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let Some(m) = c.get(0) else { return 0.0 };
    let n = cap(c, "n");
    let w = next_word(hay, m.end());
    if matches!(
        w,
        b"attack"
            | b"attacks"
            | b"access"
            | b"ap"
            | b"wifi"
            | b"network"
            | b"hotspot"
            | b"router"
            | b"pattern"
            | b"problem"
    ) {
        return 0.0;
    }
    let a = cap(c, "a");
    if matches!(
        a,
        b"evil" | b"rogue" | b"unlocked" | b"unbound" | b"limitless" | b"boundless"
    ) && matches!(n, b"twin" | b"mode" | b"version" | b"character")
        && !addressed_before(hay, m.start(), 50)
    {
        return 0.3;
    }
    if addressed_before(hay, m.start(), 50) {
        0.9
    } else {
        0.6
    }
}

fn score_you_no_rules(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let o = cap(c, "o");
    let rest = rest(c, hay, 4);
    if rest.starts_with(b" on ") || rest.starts_with(b" for") || rest.starts_with(b" in ") {
        return 0.45;
    }
    match o {
        b"filters" | b"filter" | b"filtering" | b"censorship" | b"morals" | b"ethics"
        | b"guardrails" | b"safeguards" | b"confines" | b"content policy" | b"content policies" => {
            0.9
        }
        _ => 0.85,
    }
}

fn score_act_without(c: &Captures<'_>, _hay: &[u8]) -> f32 {
    let v = cap(c, "v");
    let mid = cap(c, "mid");
    let o = cap(c, "o");
    let persona_frame = matches!(
        v,
        b"act" | b"behave" | b"roleplay" | b"role-play" | b"pretend" | b"simulate" | b"play"
    ) && has_any(
        mid,
        &[
            "ai",
            "assistant",
            "model",
            "chatbot",
            "bot",
            "llm",
            "version",
            "character",
            "entity",
            "persona",
            "being",
            "machine",
            "yourself",
        ],
    );
    let you_have = has_any(
        mid,
        &["you have", "you had", "you are", "you were", "you're"],
    );
    if matches!(o, b"refusing" | b"refusal" | b"refusals" | b"censoring") {
        return if persona_frame { 0.8 } else { 0.55 };
    }
    let strong_obj = o.starts_with(b"ethic")
        || o.starts_with(b"moral")
        || o.starts_with(b"filter")
        || o.starts_with(b"safety")
        || o.starts_with(b"content polic")
        || matches!(
            o,
            b"censorship" | b"conscience" | b"guardrails" | b"safeguards"
        );
    if persona_frame || (you_have && strong_obj) {
        0.88
    } else if strong_obj || you_have {
        0.75
    } else {
        0.5
    }
}

fn score_not_bound(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let rest = line(rest(c, hay, 48));
    if has_any(
        rest,
        &[
            "rules",
            "guidelines",
            "restrictions",
            "policies",
            "policy",
            "ethics",
            "morals",
            "filters",
            "programming",
            "training",
            "instructions",
            "openai",
            "anthropic",
            "content",
            "safety",
            "limits",
            "limitations",
            "constraints",
            "confines",
            "any",
            "typical",
            "usual",
        ],
    ) {
        0.88
    } else {
        0.35
    }
}

fn score_safety_off(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let o = cap(c, "o");
    let pw = prev_words(hay, c.get(0).map_or(0, |m| m.start()), 1);
    let q = pw.last().copied().unwrap_or(b"");
    let weak_obj = matches!(
        o,
        b"checks" | b"limits" | b"programming" | b"training" | b"rules"
    );
    let strong_obj = matches!(
        o,
        b"guardrails" | b"safeguards" | b"censorship" | b"alignment" | b"ethics"
    );
    if strong_obj
        || (!weak_obj && matches!(q, b"safety" | b"content" | b"ethical" | b"moral" | b"your"))
    {
        0.85
    } else if matches!(q, b"safety" | b"content" | b"ethical" | b"moral" | b"your") {
        0.45
    } else {
        0.3
    }
}

fn score_rules_dont_apply(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let pw = prev_words(hay, c.get(0).map_or(0, |m| m.start()), 1);
    let q = pw.last().copied().unwrap_or(b"");
    if matches!(
        q,
        b"safety" | b"content" | b"ethical" | b"moral" | b"your" | b"usual"
    ) {
        0.8
    } else {
        0.35
    }
}

fn score_comply_all(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let mut m = c.get(0).map_or(&[][..], |m| m.as_bytes()).to_vec();
    m.extend_from_slice(before_clause(rest(c, hay, 24)));
    if has_any(
        &m,
        &[
            "the user asks",
            "the user wants",
            "i ask",
            "i want",
            "you are asked",
            "they ask",
            "any question",
            "every question",
            "all questions",
            "whatever i",
            "whatever the user",
            "anything i",
            "anything the user",
            "everything i",
        ],
    ) {
        0.45
    } else {
        0.0
    }
}

fn score_grandma(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let rest = before_clause(rest(c, hay, 100));
    let secretish = has_any(
        rest,
        &[
            "keys",
            "key",
            "serial",
            "serials",
            "license",
            "activation",
            "recipe",
            "how to make",
            "steps",
            "napalm",
            "bomb",
            "meth",
            "password",
            "passwords",
            "codes",
            "product keys",
            "formula",
        ],
    );
    if secretish { 0.85 } else { 0.4 }
}

fn score_opposite(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let Some(m) = c.get(0) else { return 0.0 };
    let a = cap(c, "a");
    let n = cap(c, "n");
    let w = next_word(hay, m.end());
    if matches!(
        w,
        b"attack"
            | b"attacks"
            | b"access"
            | b"ap"
            | b"wifi"
            | b"network"
            | b"hotspot"
            | b"router"
            | b"pattern"
            | b"theme"
            | b"toggle"
            | b"support"
            | b"css"
    ) {
        return 0.0;
    }
    if n == b"mode" && matches!(a, b"dark" | b"reverse" | b"shadow" | b"bad" | b"anti") {
        return 0.0;
    }
    let your = prev_words(hay, m.start(), 1)
        .first()
        .is_some_and(|w| *w == b"your");
    if your || addressed_before(hay, m.start(), 40) {
        0.85
    } else if a == b"opposite" && n == b"day" {
        0.5
    } else {
        0.3
    }
}

fn score_dual(c: &Captures<'_>, hay: &[u8]) -> f32 {
    let rest = rest(c, hay, 400);
    let normal = has_any(
        rest,
        &[
            "normal", "normally", "classic", "usual", "censored", "standard", "regular", "gpt",
        ],
    );
    let other = has_any(
        rest,
        &[
            "dan",
            "jailbreak",
            "jailbroken",
            "unfiltered",
            "uncensored",
            "unrestricted",
            "evil",
            "opposite",
            "no filter",
            "no filters",
            "no restrictions",
            "developer mode",
            "without restrictions",
            "without any restrictions",
            "without filters",
            "anti",
        ],
    );
    if normal && other { 0.85 } else { 0.35 }
}

// ------------------------------------------------------------------------------ the rule set

fn trigger_words(t: Trig) -> Vec<String> {
    match t {
        Trig::Words(ws) => ws.iter().map(|w| (*w).to_owned()).collect(),
        Trig::Combo(a, b) => a
            .iter()
            .flat_map(|x| b.iter().map(move |y| format!("{x}{y}")))
            .collect(),
    }
}

/// A rule match: normalised byte range and confidence.
#[derive(Clone, Copy, Debug)]
pub(super) struct RuleHit {
    pub kind: Kind,
    pub fam: Fam,
    pub conf: f32,
    pub a: usize,
    pub b: usize,
}

/// Compiled rules.
pub(super) struct Rules {
    /// Trigger literals; the pattern index maps to rules through `trig_rules`.
    trig: Option<AhoCorasick>,
    trig_rules: Vec<Vec<u16>>,
    res: Vec<Option<Regex>>,
}

/// Most matches of one rule taken from one window (a bound for adversarial input only: capping
/// lower would let weak matches hide a strong one after them).
const MAX_PER_RULE: usize = 10_000;

fn expand(pat: &str) -> String {
    let mut s = pat.to_owned();
    for _ in 0..3 {
        let mut out = String::with_capacity(s.len() * 2);
        let mut rest = s.as_str();
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            let tail = &rest[i + 1..];
            let name_len = tail
                .bytes()
                .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                .count();
            let name = &tail[..name_len];
            let closed = tail.as_bytes().get(name_len) == Some(&b'}');
            match FRAGMENTS.iter().find(|(n, _)| *n == name) {
                Some((_, frag)) if closed && name_len > 0 => {
                    out.push_str(frag);
                    rest = &tail[name_len + 1..];
                }
                _ => {
                    out.push('{');
                    rest = tail;
                }
            }
        }
        out.push_str(rest);
        if out == s {
            break;
        }
        s = out;
    }
    format!("(?-u){s}")
}

impl Rules {
    /// Compiles every rule. A rule that fails to compile is skipped (tests check they all do).
    pub(super) fn new() -> Self {
        let res: Vec<Option<Regex>> = DEFS
            .iter()
            .map(|d| {
                RegexBuilder::new(&expand(d.pat))
                    .size_limit(16 << 20)
                    .dfa_size_limit(4 << 20)
                    .build()
                    .ok()
            })
            .collect();
        let mut lits: Vec<String> = Vec::new();
        let mut trig_rules: Vec<Vec<u16>> = Vec::new();
        for (i, d) in DEFS.iter().enumerate() {
            let rule = u16::try_from(i).unwrap_or(u16::MAX);
            for lit in trigger_words(d.trig) {
                match lits.iter().position(|l| *l == lit) {
                    Some(p) => trig_rules[p].push(rule),
                    None => {
                        lits.push(lit);
                        trig_rules.push(vec![rule]);
                    }
                }
            }
        }
        let trig = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&lits)
            .ok();
        Rules {
            trig,
            trig_rules,
            res,
        }
    }

    /// Rules that failed to compile (none in a correct build).
    #[cfg(test)]
    pub(super) fn broken(&self) -> Vec<String> {
        let mut out: Vec<String> = DEFS
            .iter()
            .zip(&self.res)
            .filter(|(_, r)| r.is_none())
            .map(|(d, _)| {
                let p = expand(d.pat);
                format!(
                    "{:?}: {:?}",
                    d.fam,
                    RegexBuilder::new(&p).size_limit(16 << 20).build().err()
                )
            })
            .collect();
        if self.trig.is_none() {
            out.push("trigger automaton".to_owned());
        }
        out
    }

    /// Profiling aid: time of each rule alone over `hays`.
    #[cfg(test)]
    pub(super) fn profile(&self, hays: &[Vec<u8>]) -> Vec<(usize, f64)> {
        let mut per = Vec::new();
        for (i, re) in self.res.iter().enumerate() {
            let Some(re) = re else { continue };
            let t = std::time::Instant::now();
            for h in hays {
                let _ = re.find(h);
            }
            per.push((i, t.elapsed().as_secs_f64()));
        }
        per.sort_by(|a, b| b.1.total_cmp(&a.1));
        per
    }

    /// Profiling aid: per rule, how often the triggers selected it and the time spent in it.
    #[cfg(test)]
    pub(super) fn eval_profile(&self, hays: &[Vec<u8>]) -> Vec<(usize, usize, f64)> {
        let mut stats = vec![(0usize, 0usize, 0f64); DEFS.len()];
        let mut out = Vec::new();
        let t = std::time::Instant::now();
        for h in hays {
            let _ = self.triggered(h);
        }
        println!("trigger pass: {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
        for h in hays {
            let on = self.triggered(h);
            for (i, _) in on.iter().enumerate().filter(|(_, on)| **on) {
                let t = std::time::Instant::now();
                out.clear();
                self.eval_rule(i, h, &mut out);
                stats[i].0 = i;
                stats[i].1 += 1;
                stats[i].2 += t.elapsed().as_secs_f64();
            }
        }
        stats.sort_by(|a, b| b.2.total_cmp(&a.2));
        stats
    }

    /// Which rules the trigger literals select in `hay`.
    fn triggered(&self, hay: &[u8]) -> Vec<bool> {
        let mut on = vec![false; DEFS.len()];
        match &self.trig {
            Some(ac) => {
                for m in ac.find_overlapping_iter(hay) {
                    if let Some(rules) = self.trig_rules.get(m.pattern().as_usize()) {
                        for &r in rules {
                            if let Some(x) = on.get_mut(usize::from(r)) {
                                *x = true;
                            }
                        }
                    }
                }
            }
            None => on.iter_mut().for_each(|x| *x = true),
        }
        on
    }

    /// Runs every rule over normalised text.
    pub(super) fn eval(&self, hay: &[u8], out: &mut Vec<RuleHit>) {
        let on = self.triggered(hay);
        for (i, _) in on.iter().enumerate().filter(|(_, on)| **on) {
            self.eval_rule(i, hay, out);
        }
    }

    fn eval_rule(&self, i: usize, hay: &[u8], out: &mut Vec<RuleHit>) {
        let (Some(Some(re)), Some(def)) = (self.res.get(i), DEFS.get(i)) else {
            return;
        };
        let mut push = |a: usize, b: usize, conf: f32| {
            if conf <= 0.0 || a >= b {
                return;
            }
            // Report the span without leading/trailing separators.
            let (mut a, mut b) = (a, b);
            while a < b
                && !is_wb(hay[a])
                && !matches!(
                    hay[a],
                    b'<' | b'['
                        | b'!'
                        | b'"'
                        | b'('
                        | b'#'
                        | b'~'
                        | b'/'
                        | b'.'
                        | b'$'
                        | b'`'
                        | b'\''
                )
            {
                a += 1;
            }
            while b > a && matches!(hay[b - 1], b' ' | b'\n' | b'\t' | b',' | b':' | b';') {
                b -= 1;
            }
            if a < b {
                out.push(RuleHit {
                    kind: def.kind,
                    fam: def.fam,
                    conf,
                    a,
                    b,
                });
            }
        };
        match def.score {
            Fixed(v) => {
                for m in re.find_iter(hay).take(MAX_PER_RULE) {
                    push(m.start(), m.end(), v);
                }
            }
            By(f) => {
                let mut locs = re.capture_locations();
                let mut at = 0;
                let mut n = 0;
                while let Some(m) = re.find_at(hay, at) {
                    if n >= MAX_PER_RULE {
                        break;
                    }
                    n += 1;
                    if let Some(caps) = re.captures_at(hay, m.start()) {
                        push(m.start(), m.end(), f(&caps, hay));
                    }
                    let _ = &mut locs;
                    at = if m.end() > m.start() {
                        m.end()
                    } else {
                        m.end() + 1
                    };
                    if at > hay.len() {
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles() {
        let r = Rules::new();
        assert!(r.broken().is_empty(), "{:#?}", r.broken());
    }

    #[test]
    fn fragments_expand() {
        let p = expand("a{G}b{0,3}c{NOPE}");
        assert!(p.contains("[^a-z0-9"), "{p}");
        assert!(p.contains("b{0,3}c{NOPE}"), "{p}");
    }
}
