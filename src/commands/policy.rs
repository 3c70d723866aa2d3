//! `imtegrity policy explain --from SN --to SN [--text TEXT] [--kind K] [--direction D]
//! [--client-addr IP] [--config FILE] [--set K=V]...`: which group, profile and rule apply
//! to a message, every rule considered, and the decision, exactly as the gateway would
//! decide it.

use archive::Direction;
use policy::{
    Admission, Decision, Explanation, IdentifiedBy, Identity, MessageContext, NoDisclaimer,
    PolicyEngine, RuleOutcome,
};
use serde_json::json;
use settings::Action;

use crate::cli::{PolicyCommand, PolicyExplainArgs};
use crate::output::emit;

pub(crate) fn run(command: &PolicyCommand, json: bool) -> crate::CmdResult {
    match command {
        PolicyCommand::Explain(args) => explain(args, json),
    }
}

fn explain(args: &PolicyExplainArgs, json: bool) -> crate::CmdResult {
    let config = crate::config_file::load(args.config.as_deref(), &args.overrides)?;
    // `?` on the setup error converts it into a UsageError (exit 64), naming the file.
    let engine = crate::policy_setup::engine(&config).map_err(crate::exit::UsageError::from)?;
    for warning in engine.warnings() {
        eprintln!("warning: {warning}");
    }
    let (direction, guessed) = match args.direction {
        Some(d) => (d, None),
        None => guess_direction(&engine, &args.from, &args.to),
    };
    // The organisation's user is the sender, except for an inbound message.
    let (local_name, remote) = match direction {
        Direction::Inbound => (&args.to, &args.from),
        Direction::Outbound | Direction::Internal => (&args.from, &args.to),
    };
    let local = engine.identify(local_name, args.client_addr);
    let msg = MessageContext {
        kind: args.kind,
        direction,
        local: &local,
        remote,
        text: &args.text,
    };
    let explanation = engine.explain(&msg);
    let admission = engine.admit(&local);
    let profile = engine.profile(&local);
    let disclaimer = engine.disclaimer_applies(&msg, &explanation.decision);
    let text = render(
        args,
        &engine,
        &explanation,
        &admission,
        guessed.as_deref(),
        disclaimer,
    );
    let mut value = serde_json::to_value(&explanation)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("from".into(), json!(args.from));
        object.insert("to".into(), json!(args.to));
        object.insert("direction_guessed".into(), json!(guessed.is_some()));
        object.insert("text".into(), json!(args.text));
        object.insert("admission".into(), serde_json::to_value(&admission)?);
        object.insert("profile".into(), json!(profile.name));
        object.insert("disclaimer".into(), json!(profile.disclaimer));
        // What the gateway would do for this message, by the rule the relay applies.
        object.insert(
            "disclaimer_sent".into(),
            match disclaimer {
                Ok(text) => json!({"sent": true, "text": text}),
                Err(why) => json!({"sent": false, "why": why}),
            },
        );
    }
    emit(json, &text, &value);
    Ok(())
}

/// With no `--direction`: by the rule the relay applies (`PolicyEngine::is_ours`) —
/// internal when both are the organisation's, inbound when only the recipient is, otherwise
/// outbound. With no directory only the running gateway knows who is signed on through it,
/// so the sender is taken as the local user and the other party as an outsider. Also says
/// why, for the output.
fn guess_direction(engine: &PolicyEngine, from: &str, to: &str) -> (Direction, Option<String>) {
    let known = |sn: &str| engine.is_ours(sn, false);
    let (direction, why) = match (known(from), known(to)) {
        (true, true) => (Direction::Internal, "both are in the directory"),
        (false, true) => (Direction::Inbound, "only the recipient is in the directory"),
        (true, false) => (Direction::Outbound, "only the sender is in the directory"),
        (false, false) if engine.directory().is_empty() => (
            Direction::Outbound,
            "no directory: the sender is taken as the local user and the recipient as an \
             outsider (the gateway counts them as internal only while both are signed on \
             through it)",
        ),
        (false, false) => (
            Direction::Outbound,
            "neither is in the directory: the sender is taken as the local user",
        ),
    };
    (direction, Some(format!("{why}; --direction to choose")))
}

fn render(
    args: &PolicyExplainArgs,
    engine: &PolicyEngine,
    x: &Explanation,
    admission: &Admission,
    guessed: Option<&str>,
    disclaimer: Result<&str, NoDisclaimer>,
) -> String {
    let mut out = Vec::new();
    let guessed = guessed.map_or_else(String::new, |why| format!(" ({why})"));
    out.push(format!(
        "message:  {} {}, {} -> {}{guessed}",
        x.direction, x.kind, args.from, args.to
    ));
    if !args.text.is_empty() {
        out.push(format!("text:     {:?}", args.text));
    }
    out.push(format!("local:    {}", describe_identity(&x.identity)));
    if let Admission::Refuse { reason } = admission {
        out.push(format!("sign-on:  refused: {reason}"));
    }
    if x.groups.is_empty() {
        out.push("groups:   none configured".to_owned());
    } else {
        out.push("groups:".to_owned());
        for g in &x.groups {
            out.push(format!(
                "  {} -> profile {}: {}{}",
                g.name,
                g.profile,
                g.outcome.as_str(),
                why_suffix(g.outcome, &g.why)
            ));
        }
    }
    let profile = engine.profile(&x.identity);
    out.push(format!(
        "profile:  {}{}",
        profile.name,
        if x.default_profile {
            " (no group matched: policy.default_profile)"
        } else {
            ""
        }
    ));
    match disclaimer {
        Ok(text) => out.push(format!(
            "  disclaimer: sent to both parties before this message if the conversation \
             has been silent {} h or is new{}: {text:?}",
            profile.disclaimer_every.as_secs() / 3600,
            if profile.disclaimer_mandatory {
                " (mandatory)"
            } else {
                ""
            }
        )),
        Err(why) => out.push(format!("  disclaimer: none: {}", why.as_str())),
    }
    if x.rules.is_empty() {
        out.push("rules:    none (every message is delivered and recorded)".to_owned());
    } else {
        out.push("rules:".to_owned());
        for (i, r) in x.rules.iter().enumerate() {
            out.push(format!(
                "  {}. {} ({}): {}{}",
                i + 1,
                r.name,
                r.action,
                r.outcome.as_str(),
                why_suffix(r.outcome, &r.why)
            ));
        }
    }
    out.push(format!("decision: {}", describe_decision(&x.decision)));
    out.join("\n")
}

fn why_suffix(outcome: RuleOutcome, why: &str) -> String {
    match outcome {
        RuleOutcome::NotReached => String::new(),
        RuleOutcome::Matched | RuleOutcome::NotMatched => format!(": {why}"),
    }
}

fn describe_identity(who: &Identity) -> String {
    let mut text = who.screen_name.clone();
    match &who.employee {
        Some(e) => text.push_str(&format!(
            " = employee {} ({}), by {}",
            e.id,
            e.name,
            match e.by {
                IdentifiedBy::ScreenName => "screen name",
                IdentifiedBy::Address => "client address",
            }
        )),
        None => text.push_str(", not in the directory"),
    }
    if let Some(client) = who.client {
        text.push_str(&format!("; client {client}"));
    }
    text
}

fn describe_decision(d: &Decision) -> String {
    let by = d.rule.as_deref().map_or_else(
        || " (no rule matched)".to_owned(),
        |r| format!(" by rule {r}"),
    );
    let what = match d.action {
        Action::Log | Action::Allow => "delivered and recorded".to_owned(),
        Action::NoLog => "delivered, not recorded".to_owned(),
        Action::Block => format!(
            "not delivered, recorded; the sender is told {:?}",
            d.notice.as_deref().unwrap_or("")
        ),
        Action::Mask => format!(
            "delivered and recorded as {:?} (the record keeps the original as its raw text)",
            d.text.as_deref().unwrap_or("")
        ),
        Action::Alert => format!(
            "delivered and recorded, with an alert: {}",
            d.alert.as_deref().unwrap_or("")
        ),
    };
    format!("{}{by}: {what}", d.action)
}
