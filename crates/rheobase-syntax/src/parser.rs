//! From logical lines to the AST: top-level statements, declarations and
//! their body keys.
//!
//! Each logical line (or key value) is parsed by its own pest rule, so that
//! an error on one line does not hide the errors on the next: the parser
//! reports it and carries on.

use pest::iterators::Pair;

use crate::ast::*;
use crate::convert::{children, Conv};
use crate::grammar::{self, join_alternatives, Rule};
use crate::layout::Line;
use crate::{Diagnostic, Span};

/// After this many errors the parser stops: a file of random bytes would
/// otherwise produce one diagnostic per line, and nobody reads the
/// thousandth.
const MAX_ERRORS: usize = 100;

/// The kinds of declaration, named as in Brian2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    NeuronGroup,
    Synapses,
    PoissonGroup,
    PoissonInput,
    SpikeGeneratorGroup,
    TimedArray,
    Array,
    Clock,
    SpikeMonitor,
    EventMonitor,
    StateMonitor,
    PopulationRateMonitor,
    /// Not a declaration: the keys of a `run_regularly:` block, read with
    /// the same body reader.
    RunRegularly,
}

const KINDS: [(&str, Kind); 12] = [
    ("NeuronGroup", Kind::NeuronGroup),
    ("Synapses", Kind::Synapses),
    ("PoissonGroup", Kind::PoissonGroup),
    ("PoissonInput", Kind::PoissonInput),
    ("SpikeGeneratorGroup", Kind::SpikeGeneratorGroup),
    ("TimedArray", Kind::TimedArray),
    ("Array", Kind::Array),
    ("Clock", Kind::Clock),
    ("SpikeMonitor", Kind::SpikeMonitor),
    ("EventMonitor", Kind::EventMonitor),
    ("StateMonitor", Kind::StateMonitor),
    ("PopulationRateMonitor", Kind::PopulationRateMonitor),
];

impl Kind {
    fn from_word(word: &str) -> Option<Kind> {
        KINDS.iter().find(|(w, _)| *w == word).map(|&(_, k)| k)
    }

    fn name(self) -> &'static str {
        if self == Kind::RunRegularly {
            return "`run_regularly:`";
        }
        KINDS
            .iter()
            .find(|&&(_, k)| k == self)
            .map_or("declaration", |&(w, _)| w)
    }

    /// The body keys, exactly as the fields of the AST declarations.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::NeuronGroup => &[
                "model",
                "threshold",
                "reset",
                "refractory",
                "method",
                "init",
                "events",
                "on_event",
                "run_regularly",
                "namespace",
                "order",
                "dt",
                "clock",
            ],
            Kind::Synapses => &[
                "model",
                "on_pre",
                "on_post",
                "delay",
                "on_event",
                "method",
                "connect",
                "init",
                "run_regularly",
                "namespace",
                "order",
                "dt",
                "clock",
            ],
            Kind::PoissonGroup => &["rates", "run_regularly", "dt", "clock"],
            Kind::PoissonInput => &["N", "rate", "weight", "when", "order"],
            Kind::SpikeGeneratorGroup => &["indices", "times", "file", "period", "dt", "clock"],
            Kind::TimedArray => &["dt", "values", "file"],
            Kind::Array => &["values", "file"],
            Kind::Clock => &["dt"],
            Kind::SpikeMonitor => &["variables", "when", "order", "record"],
            Kind::EventMonitor => &["event", "variables", "when", "order", "record"],
            Kind::StateMonitor => &["variables", "record", "dt", "clock", "when", "order"],
            Kind::PopulationRateMonitor => &[],
            Kind::RunRegularly => &["code", "dt", "clock", "when", "order"],
        }
    }

    fn header_rule(self) -> Rule {
        match self {
            Kind::NeuronGroup | Kind::PoissonGroup | Kind::SpikeGeneratorGroup => Rule::size_header,
            Kind::Synapses => Rule::synapses_header,
            Kind::PoissonInput => Rule::input_header,
            Kind::TimedArray | Kind::Array | Kind::Clock | Kind::RunRegularly => Rule::plain_header,
            Kind::SpikeMonitor
            | Kind::EventMonitor
            | Kind::StateMonitor
            | Kind::PopulationRateMonitor => Rule::monitor_header,
        }
    }

    fn example(self) -> &'static str {
        match self {
            Kind::NeuronGroup => "NeuronGroup P(4000):",
            Kind::Synapses => "Synapses S(P[0:3200] -> P):",
            Kind::PoissonGroup => "PoissonGroup input(100):",
            Kind::PoissonInput => "PoissonInput drive(P.ge):",
            Kind::SpikeGeneratorGroup => "SpikeGeneratorGroup stim(10):",
            Kind::TimedArray => "TimedArray stimulus:",
            Kind::Array => "Array W:",
            Kind::Clock => "Clock slow:",
            Kind::SpikeMonitor => "SpikeMonitor spikes(P)",
            Kind::EventMonitor => {
                "EventMonitor crossings(P):` with the event on a line `event: crossing"
            }
            Kind::StateMonitor => "StateMonitor trace(P):",
            Kind::PopulationRateMonitor => "PopulationRateMonitor rate(P)",
            Kind::RunRegularly => "run_regularly:",
        }
    }
}

/// What Brian2 says of a `when:` or `order:` given to a declaration that
/// does not take it, and what to write instead.
fn schedule_note(kind: Kind, word: &str) -> Option<&'static str> {
    match (kind, word) {
        (Kind::PopulationRateMonitor, "when" | "order") => Some(
            "Brian2's PopulationRateMonitor takes no `when=` or `order=`: it always \
             records in the `end` slot, at order 0",
        ),
        (Kind::NeuronGroup | Kind::Synapses, "when") => Some(
            "Brian2's NeuronGroup and Synapses take no `when=`: each of their parts \
             (state updater, thresholder, resetter, pathways) has its own slot; move one \
             with a statement after the declaration, such as `S.pre.when = 'before_groups'` \
             or `G.state_updater.when = 'after_thresholds'`, or give the object an `order:`",
        ),
        _ => None,
    }
}

/// The candidate closest to `word`, if it is close enough to be a typo.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // Words longer than any candidate by far cannot be typos of them, and
    // skipping them keeps the quadratic distance cheap.
    if word.chars().count() > 40 {
        return None;
    }
    // One edit in three characters is a typo; in a one- or two-letter
    // word it is a different word.
    let limit = (word.chars().count() / 3).min(3);
    candidates
        .iter()
        .map(|&c| {
            (
                strsim::levenshtein(&word.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier at the start of `text`, if any.
fn leading_word(text: &str) -> Option<&str> {
    let first = text.chars().next()?;
    if !is_ident_start(first) {
        return None;
    }
    let len = text.find(|c: char| !is_ident_char(c)).unwrap_or(text.len());
    Some(&text[..len])
}

/// One `key: value` line of a declaration body.
struct KeyValue {
    key: Ident,
    /// The word between the key and the colon: the event of a
    /// NeuronGroup's `on_event NAME:`, the pathway of a Synapses object's
    /// `on_pre NAME:`, `on_post NAME:`, `delay NAME:`, `on_event NAME:`.
    event: Option<Ident>,
    /// The value after the colon, as a byte range, when on the key's line.
    inline: Option<(usize, usize)>,
    /// The indented block under the key, as a range of line indices.
    block: (usize, usize),
    span: Span,
}

pub(crate) struct Parser<'s> {
    /// The masked source (comments blanked, same offsets as the source).
    text: &'s str,
    lines: &'s [Line],
    pub diags: Vec<Diagnostic>,
    stopped: bool,
}

impl<'s> Parser<'s> {
    pub fn new(text: &'s str, lines: &'s [Line], diags: Vec<Diagnostic>) -> Parser<'s> {
        let mut p = Parser {
            text,
            lines,
            diags: Vec::new(),
            stopped: false,
        };
        for d in diags {
            p.report(d);
        }
        p
    }

    fn report(&mut self, d: Diagnostic) {
        if self.stopped {
            return;
        }
        if self.diags.len() + 1 >= MAX_ERRORS {
            self.diags.push(d);
            self.diags.push(Diagnostic::error(
                self.diags.last().map_or(Span::default(), |d| d.span),
                format!("too many errors ({MAX_ERRORS}); stopping here"),
            ));
            self.stopped = true;
        } else {
            self.diags.push(d);
        }
    }

    /// The whole logical line `k`, joined with its indented block, as a
    /// byte range. Used where indented lines continue their parent.
    fn joined(&self, k: usize) -> (usize, usize) {
        let line = &self.lines[k];
        let last = line.children_end.max(k + 1) - 1;
        (line.start, self.lines[last].end.max(line.end))
    }

    /// True if any line in `a..b` was already reported by the pre-pass.
    fn any_poisoned(&self, a: usize, b: usize) -> bool {
        self.lines[a..b].iter().any(|l| l.poisoned)
    }

    /// The direct children of a block `a..b`, checking that they line up.
    fn siblings(&mut self, a: usize, b: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut k = a;
        let indent = self.lines.get(a).map_or(0, |l| l.indent);
        while k < b {
            let line = &self.lines[k];
            if line.indent != indent {
                let d = Diagnostic::error(
                    Span::new(line.start, line.start),
                    format!(
                        "inconsistent indentation: this line is indented by {} column{}, the lines before it by {}",
                        line.indent,
                        if line.indent == 1 { "" } else { "s" },
                        indent
                    ),
                )
                .with_secondary(Span::new(self.lines[a].start, self.lines[a].start), "indentation set here");
                self.report(d);
            }
            out.push(k);
            k = line.children_end.max(k + 1).min(b);
        }
        out
    }

    /// Parses `start..end` of the masked text with `rule` and hands the
    /// rule's children to `f`, reporting any error.
    fn parse_region<T>(
        &mut self,
        rule: Rule,
        (start, end): (usize, usize),
        f: impl FnOnce(Conv, Span, Vec<Pair<'s, Rule>>) -> Result<T, Diagnostic>,
    ) -> Option<T> {
        let text: &'s str = self.text;
        let slice = &text[start..end];
        let span = Span::new(start, end);
        let result = grammar::run(rule, slice, start).and_then(|mut pairs| {
            let top = pairs
                .next()
                .ok_or_else(|| Diagnostic::error(span, "internal parser error: empty parse"))?;
            f(Conv { base: start }, span, children(top))
        });
        match result {
            Ok(v) => Some(v),
            Err(d) => {
                self.report(d);
                None
            }
        }
    }

    pub fn model(&mut self) -> Model {
        let mut items = Vec::new();
        let mut k = 0;
        while k < self.lines.len() && !self.stopped {
            let line = &self.lines[k];
            let next = line.children_end.max(k + 1);
            if line.indent > 0 {
                self.report(
                    Diagnostic::error(Span::new(line.start, line.start), "unexpected indentation")
                        .with_note(
                        "top-level statements and declarations start at the beginning of the line",
                    ),
                );
            }
            if let Some(item) = self.top_item(k, next) {
                items.push(item);
            }
            k = next;
        }
        Model { items }
    }

    fn top_item(&mut self, k: usize, block_end: usize) -> Option<Item> {
        let line = &self.lines[k];
        let (start, end) = (line.start, line.end);
        let text = &self.text[start..end];
        let word = leading_word(text).unwrap_or("");
        let rest = &text[word.len()..];
        let after = rest.trim_start();
        let next_char = after.chars().next();
        let spaced = rest.len() > after.len();

        if let Some(kind) = Kind::from_word(word) {
            if spaced && next_char.is_some_and(is_ident_start) {
                return self.declaration(kind, k, block_end);
            }
        }
        if line.poisoned {
            return None;
        }
        if let Some(item) = self.top_run_regularly(k, block_end) {
            return item;
        }
        // `Foo bar(...)`: a declaration of a kind we do not know, most
        // likely a misspelt one.
        if spaced
            && word.starts_with(|c: char| c.is_ascii_uppercase())
            && next_char.is_some_and(is_ident_start)
        {
            let names: Vec<&str> = KINDS.iter().map(|(w, _)| *w).collect();
            let mut d = Diagnostic::error(
                Span::new(start, start + word.len()),
                format!("unknown declaration `{word}`"),
            )
            .with_note(format!("declarations are {}", join_alternatives(&names)));
            if let Some(s) = suggest(word, &names) {
                d = d.with_note(format!("help: did you mean `{s}`?"));
            }
            self.report(d);
            return None;
        }

        if k + 1 < block_end {
            let first = &self.lines[k + 1];
            let last = &self.lines[block_end - 1];
            self.report(
                Diagnostic::error(
                    Span::new(first.start, last.end),
                    "unexpected indented block",
                )
                .with_secondary(Span::new(start, end), "this statement takes no body")
                .with_note("only declarations such as `NeuronGroup P(10):` have an indented body"),
            );
        }

        let span = Span::new(start, end);
        if word == "run" && !after.starts_with(['=', '.']) {
            return self.parse_region(Rule::run_line, (start, end), |c, span, parts| {
                let mut duration = None;
                let mut report_period = None;
                let mut seen: Vec<(String, Span)> = Vec::new();
                for p in parts {
                    match p.as_rule() {
                        Rule::expr => duration = Some(c.expr(p)?),
                        Rule::run_arg => {
                            if let Some(e) = c.run_arg(p, &mut seen)? {
                                report_period = Some(e);
                            }
                        }
                        _ => {}
                    }
                }
                let duration = duration
                    .ok_or_else(|| Diagnostic::error(span, "internal parser error in `run`"))?;
                Ok(Item::Run {
                    duration,
                    report_period,
                    span,
                })
            });
        }
        if word == "seed" && after.starts_with('(') {
            return self.parse_region(Rule::seed_line, (start, end), |c, span, parts| {
                let value = match parts.into_iter().find(|p| p.as_rule() == Rule::expr) {
                    Some(e) => Some(c.expr(e)?),
                    None => None,
                };
                Ok(Item::Seed { value, span })
            });
        }
        if let Some(item) = self.schedule_statement(start, end) {
            return item;
        }
        if let Some(item) = self.pathway_delay_statement(start, end) {
            return item;
        }
        if let Some(item) = self.indexed_assignment(start, end) {
            return item;
        }
        if let Some(link) = crate::linked::link_statement(self.text, start, end) {
            return match link {
                Ok((item, None)) => Some(item),
                Ok((mut item, Some(at))) => {
                    let array = self.parse_region(
                        Rule::expr_only,
                        (at.start, at.end),
                        |c, span, parts| {
                            let e = parts
                                .into_iter()
                                .next()
                                .ok_or_else(|| Diagnostic::error(span, "internal parser error"))?;
                            c.expr(e)
                        },
                    )?;
                    if let Item::LinkVariable { index, .. } = &mut item {
                        *index = Some(crate::ast::LinkIndex::Array(array));
                    }
                    Some(item)
                }
                Err(d) => {
                    self.report(d);
                    None
                }
            };
        }
        if is_subgroup_line(&self.text[start..end]) {
            return self.parse_region(Rule::subgroup_line, (start, end), |c, span, parts| {
                let mut name = None;
                let mut group = None;
                for p in parts {
                    match p.as_rule() {
                        Rule::ident => name = Some(c.ident(&p)),
                        Rule::group_ref => group = Some(c.group_ref(p)?),
                        _ => {}
                    }
                }
                match (name, group) {
                    (Some(name), Some(group)) => Ok(Item::Subgroup { name, group, span }),
                    _ => Err(Diagnostic::error(span, "internal parser error")),
                }
            });
        }
        self.parse_region(Rule::assign_line, (start, end), |c, _, parts| {
            let stmt = parts
                .into_iter()
                .next()
                .ok_or_else(|| Diagnostic::error(span, "internal parser error"))?;
            let is_set_var = stmt.as_rule() == Rule::set_var;
            let mut names = Vec::new();
            let mut value = None;
            for p in stmt.into_inner() {
                match p.as_rule() {
                    Rule::ident => names.push(c.ident(&p)),
                    Rule::expr => value = Some(c.expr(p)?),
                    _ => {}
                }
            }
            let value = value.ok_or_else(|| Diagnostic::error(span, "internal parser error"))?;
            let mut names = names.into_iter();
            match (is_set_var, names.next(), names.next()) {
                (true, Some(group), Some(variable)) => {
                    if group.name == "defaultclock" {
                        if variable.name == "dt" {
                            Ok(Item::SetDt { value, span })
                        } else {
                            Err(Diagnostic::error(
                                variable.span,
                                format!("`defaultclock` has no setting `{}`", variable.name),
                            )
                            .with_note("only `defaultclock.dt` can be set"))
                        }
                    } else {
                        Ok(Item::SetVariable {
                            group,
                            variable,
                            value,
                            span,
                        })
                    }
                }
                (false, Some(name), None) => Ok(Item::Constant { name, value, span }),
                _ => Err(Diagnostic::error(span, "internal parser error")),
            }
        })
    }

    fn declaration(&mut self, kind: Kind, k: usize, block_end: usize) -> Option<Item> {
        let line = &self.lines[k];
        let header = (line.start, line.end);
        let has_colon = self.text[header.0..header.1].ends_with(':');
        let has_body = k + 1 < block_end;
        let span = Span::new(line.start, self.lines[block_end - 1].end.max(line.end));

        // Header: `Kind name(args):`.
        struct Header {
            name: Ident,
            size: Option<Expr>,
            refs: Vec<GroupRef>,
            target: Vec<Ident>,
        }
        let header = if line.poisoned {
            None
        } else {
            self.parse_region(kind.header_rule(), header, |c, _, parts| {
                let mut idents = Vec::new();
                let mut size = None;
                let mut refs = Vec::new();
                for p in parts {
                    match p.as_rule() {
                        Rule::ident => idents.push(c.ident(&p)),
                        Rule::expr => size = Some(c.expr(p)?),
                        Rule::group_ref => refs.push(c.group_ref(p)?),
                        _ => {}
                    }
                }
                let mut idents = idents.into_iter().skip(1);
                let name = idents
                    .next()
                    .ok_or_else(|| Diagnostic::error(span, "internal parser error"))?;
                Ok(Header {
                    name,
                    size,
                    refs,
                    target: idents.collect(),
                })
            })
        };
        let Some(header) = header else {
            if !line.poisoned {
                self.report_header_hint(kind, k);
            }
            // The body is still checked, so that its errors are reported
            // in the same run as the header's.
            let dummy = Ident {
                name: String::new(),
                span: Span::new(line.start, line.start),
            };
            let keys = self.body(kind, &dummy, k + 1, block_end);
            self.check_values(keys);
            return None;
        };
        if has_body && !has_colon {
            let end = self.lines[k].end;
            self.report(
                Diagnostic::error(
                    Span::new(end, end),
                    format!("expected `:` at the end of the {} header", kind.name()),
                )
                .with_label("add `:` here")
                .with_note("the indented lines below it are its body"),
            );
        }

        let keys = self.body(kind, &header.name, k + 1, block_end);
        let mut refs = header.refs.into_iter();
        let name = header.name;
        let size = header.size;
        let item = match kind {
            Kind::NeuronGroup => {
                let mut d = NeuronGroupDecl {
                    name,
                    size: size?,
                    dt: None,
                    clock: None,
                    model: Vec::new(),
                    threshold: None,
                    reset: None,
                    refractory: None,
                    method: None,
                    init: None,
                    events: Vec::new(),
                    on_event: Vec::new(),
                    run_regularly: Vec::new(),
                    namespace: None,
                    order: None,
                    span,
                };
                for kv in keys {
                    match kv.key.name.as_str() {
                        "order" => d.order = self.value_expr(&kv),
                        "dt" => d.dt = self.value_expr(&kv),
                        "clock" => d.clock = self.value_name(&kv),
                        "model" => d.model = self.equations(&kv),
                        "threshold" => d.threshold = self.value_expr(&kv),
                        "reset" => d.reset = self.block(&kv),
                        "refractory" => d.refractory = self.value_expr(&kv),
                        "method" => d.method = self.value_name(&kv),
                        "init" => d.init = self.block(&kv),
                        "namespace" => d.namespace = self.block(&kv),
                        "events" => d.events = self.events(&kv),
                        "run_regularly" => d.run_regularly.extend(self.run_regularly(&kv)),
                        "on_event" => {
                            if let (Some(event), Some(statements)) =
                                (kv.event.clone(), self.block(&kv))
                            {
                                d.on_event.push(OnEvent {
                                    event,
                                    statements,
                                    span: kv.span,
                                });
                            }
                        }
                        _ => {}
                    }
                }
                Item::NeuronGroup(d)
            }
            Kind::Synapses => {
                let (Some(source), Some(target)) = (refs.next(), refs.next()) else {
                    return None;
                };
                let mut d = SynapsesDecl {
                    name,
                    source,
                    target,
                    dt: None,
                    clock: None,
                    model: Vec::new(),
                    on_pre: None,
                    on_post: None,
                    delay: None,
                    pathways: Vec::new(),
                    pathway_delays: Vec::new(),
                    on_event: None,
                    pathway_events: Vec::new(),
                    method: None,
                    connect: Vec::new(),
                    init: None,
                    run_regularly: Vec::new(),
                    namespace: None,
                    order: None,
                    span,
                };
                for kv in keys {
                    match kv.key.name.as_str() {
                        "order" => d.order = self.value_expr(&kv),
                        "dt" => d.dt = self.value_expr(&kv),
                        "clock" => d.clock = self.value_name(&kv),
                        "model" => d.model = self.equations(&kv),
                        "on_pre" | "on_post" => {
                            let post = kv.key.name == "on_post";
                            match (kv.event.clone(), self.block(&kv)) {
                                (Some(name), Some(code)) => d.pathways.push(Pathway {
                                    name,
                                    post,
                                    code,
                                    span: kv.span,
                                }),
                                (None, code) if post => d.on_post = code,
                                (None, code) => d.on_pre = code,
                                (Some(_), None) => {}
                            }
                        }
                        "delay" => match (kv.event.clone(), self.value_expr(&kv)) {
                            (Some(name), Some(value)) => d.pathway_delays.push((name, value)),
                            (None, value) => d.delay = value,
                            (Some(_), None) => {}
                        },
                        "on_event" => match (kv.event.clone(), self.value_name(&kv)) {
                            (Some(name), Some(event)) => d.pathway_events.push((name, event)),
                            (None, event) => d.on_event = event,
                            (Some(_), None) => {}
                        },
                        "method" => d.method = self.value_name(&kv),
                        "connect" => {
                            let more = self.connects(&kv);
                            d.connect.extend(more);
                        }
                        "init" => d.init = self.block(&kv),
                        "namespace" => d.namespace = self.block(&kv),
                        "run_regularly" => d.run_regularly.extend(self.run_regularly(&kv)),
                        _ => {}
                    }
                }
                Item::Synapses(d)
            }
            Kind::PoissonGroup => {
                let mut d = PoissonGroupDecl {
                    name,
                    size: size?,
                    dt: None,
                    clock: None,
                    rates: None,
                    run_regularly: Vec::new(),
                    span,
                };
                for kv in keys {
                    match kv.key.name.as_str() {
                        "rates" => d.rates = self.value_expr(&kv),
                        "dt" => d.dt = self.value_expr(&kv),
                        "clock" => d.clock = self.value_name(&kv),
                        "run_regularly" => d.run_regularly.extend(self.run_regularly(&kv)),
                        _ => {}
                    }
                }
                Item::PoissonGroup(d)
            }
            Kind::PoissonInput => {
                let (Some(target), Some(variable)) =
                    (refs.next(), header.target.into_iter().next())
                else {
                    return None;
                };
                let mut d = PoissonInputDecl {
                    name,
                    target: target.group,
                    slice: target.slice,
                    variable,
                    n: None,
                    rate: None,
                    weight: None,
                    when: None,
                    order: None,
                    span,
                };
                for kv in keys {
                    match kv.key.name.as_str() {
                        "N" => d.n = self.value_expr(&kv),
                        "rate" => d.rate = self.value_expr(&kv),
                        "weight" => d.weight = self.value_expr(&kv),
                        "when" => d.when = self.value_name(&kv),
                        "order" => d.order = self.value_expr(&kv),
                        _ => {}
                    }
                }
                Item::PoissonInput(d)
            }
            Kind::SpikeGeneratorGroup => {
                let mut d = SpikeGeneratorDecl {
                    name,
                    size: size?,
                    dt: None,
                    clock: None,
                    indices: None,
                    times: None,
                    file: None,
                    period: None,
                    span,
                };
                for kv in keys {
                    match kv.key.name.as_str() {
                        "indices" => d.indices = self.value_expr(&kv),
                        "times" => d.times = self.value_expr(&kv),
                        "file" => d.file = self.value_path(&kv),
                        "period" => d.period = self.value_expr(&kv),
                        "dt" => d.dt = self.value_expr(&kv),
                        "clock" => d.clock = self.value_name(&kv),
                        _ => {}
                    }
                }
                Item::SpikeGeneratorGroup(d)
            }
            Kind::Clock => {
                let mut d = ClockDecl {
                    name,
                    dt: None,
                    span,
                };
                for kv in keys {
                    if kv.key.name == "dt" {
                        d.dt = self.value_expr(&kv);
                    }
                }
                Item::Clock(d)
            }
            Kind::TimedArray | Kind::Array => {
                let mut d = TimedArrayDecl {
                    array: kind == Kind::Array,
                    name,
                    dt: None,
                    values: None,
                    file: None,
                    span,
                };
                for kv in keys {
                    match kv.key.name.as_str() {
                        "dt" => d.dt = self.value_expr(&kv),
                        "values" => d.values = self.value_expr(&kv),
                        "file" => d.file = self.value_path(&kv),
                        _ => {}
                    }
                }
                Item::TimedArray(d)
            }
            Kind::SpikeMonitor | Kind::EventMonitor => {
                let source = refs.next()?;
                let mut d = SpikeMonitorDecl {
                    name,
                    source,
                    variables: Vec::new(),
                    event: None,
                    when: None,
                    order: None,
                    record: None,
                    span,
                };
                let mut event_given = false;
                for kv in keys {
                    match kv.key.name.as_str() {
                        "variables" => d.variables = self.names(&kv),
                        "when" => d.when = self.value_name(&kv),
                        "order" => d.order = self.value_expr(&kv),
                        "record" => d.record = self.value_expr(&kv),
                        "event" => {
                            event_given = true;
                            d.event = self.value_name(&kv);
                        }
                        _ => {}
                    }
                }
                if kind == Kind::EventMonitor && !event_given {
                    self.report(
                        Diagnostic::error(
                            d.name.span,
                            format!("the EventMonitor `{}` needs `event:`", d.name.name),
                        )
                        .with_note(
                            "name the custom event it records, as Brian2's \
                             `EventMonitor(G, 'custom')`: `event: custom`",
                        ),
                    );
                    return None;
                }
                Item::SpikeMonitor(d)
            }
            Kind::StateMonitor => {
                let source = refs.next()?;
                let mut d = StateMonitorDecl {
                    name,
                    source,
                    variables: Vec::new(),
                    record: None,
                    dt: None,
                    clock: None,
                    when: None,
                    order: None,
                    span,
                };
                for kv in keys {
                    match kv.key.name.as_str() {
                        "variables" => d.variables = self.names(&kv),
                        "record" => d.record = self.record(&kv),
                        "dt" => d.dt = self.value_expr(&kv),
                        "clock" => d.clock = self.value_name(&kv),
                        "when" => d.when = self.value_name(&kv),
                        "order" => d.order = self.value_expr(&kv),
                        _ => {}
                    }
                }
                Item::StateMonitor(d)
            }
            Kind::PopulationRateMonitor => {
                let source = refs.next()?;
                Item::PopulationRateMonitor(PopulationRateMonitorDecl { name, source, span })
            }
            // Never a declaration header (see `run_regularly`).
            Kind::RunRegularly => return None,
        };
        Some(item)
    }

    /// Parses every value (for its errors only) when the declaration itself
    /// cannot be built.
    fn check_values(&mut self, keys: Vec<KeyValue>) {
        for kv in keys {
            match kv.key.name.as_str() {
                "model" => drop(self.equations(&kv)),
                "on_event" if kv.inline.is_some() => drop(self.value_name(&kv)),
                "reset" | "init" | "namespace" | "on_pre" | "on_post" | "on_event" => {
                    drop(self.block(&kv))
                }
                "method" => drop(self.value_name(&kv)),
                "events" => drop(self.events(&kv)),
                "connect" => drop(self.connects(&kv)),
                "file" => drop(self.value_path(&kv)),
                "variables" => drop(self.names(&kv)),
                "record" => drop(self.record(&kv)),
                "run_regularly" => drop(self.run_regularly(&kv)),
                _ => drop(self.value_expr(&kv)),
            }
        }
    }

    /// After a header failed to parse, shows what a header of this kind
    /// looks like.
    fn report_header_hint(&mut self, kind: Kind, _k: usize) {
        if let Some(last) = self.diags.last_mut() {
            let name = kind.name();
            let article = if name.starts_with(['A', 'E', 'I', 'O', 'U']) {
                "an"
            } else {
                "a"
            };
            last.notes.push(format!(
                "{article} {name} is declared like `{}`",
                kind.example()
            ));
        }
    }

    /// Reads the `key: value` lines of a declaration body.
    fn body(&mut self, kind: Kind, decl: &Ident, a: usize, b: usize) -> Vec<KeyValue> {
        let mut out: Vec<KeyValue> = Vec::new();
        if a >= b {
            return out;
        }
        let valid = kind.keys();
        for k in self.siblings(a, b) {
            if self.stopped {
                break;
            }
            let line = &self.lines[k];
            let block = (k + 1, line.children_end.max(k + 1));
            if line.poisoned {
                continue;
            }
            let (start, end) = (line.start, line.end);
            let text = &self.text[start..end];
            let Some(word) = leading_word(text) else {
                self.report_not_a_key(kind, decl, start, end);
                continue;
            };
            let key = Ident {
                name: word.to_string(),
                span: Span::new(start, start + word.len()),
            };
            let mut pos = start + word.len();
            let mut event = None;
            // A Synapses pathway's name is optional (`on_pre:` is the
            // pathway `pre`).
            let named_pathway = kind == Kind::Synapses
                && matches!(word, "on_pre" | "on_post" | "delay" | "on_event");
            if named_pathway {
                let rest = &self.text[pos..end];
                let trimmed = rest.trim_start();
                let arg_start = pos + (rest.len() - trimmed.len());
                if let Some(arg) = leading_word(trimmed).filter(|_| rest.len() > trimmed.len()) {
                    event = Some(Ident {
                        name: arg.to_string(),
                        span: Span::new(arg_start, arg_start + arg.len()),
                    });
                    pos = arg_start + arg.len();
                }
            }
            if word == "on_event" && kind == Kind::NeuronGroup {
                let rest = &self.text[pos..end];
                let trimmed = rest.trim_start();
                let ev_start = pos + (rest.len() - trimmed.len());
                match leading_word(trimmed) {
                    Some(ev) if rest.len() > trimmed.len() => {
                        event = Some(Ident {
                            name: ev.to_string(),
                            span: Span::new(ev_start, ev_start + ev.len()),
                        });
                        pos = ev_start + ev.len();
                    }
                    _ => {
                        self.report(
                            Diagnostic::error(
                                Span::new(ev_start, ev_start),
                                "expected the name of an event after `on_event`",
                            )
                            .with_note("write `on_event NAME:` with NAME declared under `events:`"),
                        );
                        continue;
                    }
                }
            }
            let rest = &self.text[pos..end];
            let trimmed = rest.trim_start();
            if !trimmed.starts_with(':') {
                self.report_not_a_key(kind, decl, start, end);
                continue;
            }
            let colon = pos + (rest.len() - trimmed.len());
            if !valid.contains(&word) {
                let message = if valid.is_empty() {
                    format!("{} takes no keys, but `{word}` is given", kind.name())
                } else {
                    format!(
                        "unknown key `{word}` in {}; valid keys are {}",
                        kind.name(),
                        valid.join(", ")
                    )
                };
                let d = match schedule_note(kind, word) {
                    Some(note) => {
                        Diagnostic::error(key.span, format!("{} takes no `{word}:`", kind.name()))
                            .with_note(note)
                    }
                    None => {
                        let d = Diagnostic::error(key.span, message);
                        match suggest(word, valid) {
                            Some(s) => d.with_note(format!("help: did you mean `{s}`?")),
                            None => d,
                        }
                    }
                };
                self.report(d);
                continue;
            }
            // Duplicates: every key once, except `connect:` and
            // `run_regularly:` (they add up) and `on_event` (once per event).
            if word != "connect" && word != "run_regularly" {
                let dup = out.iter().find(|kv| {
                    kv.key.name == word
                        && kv.event.as_ref().map(|e| &e.name) == event.as_ref().map(|e| &e.name)
                });
                if let Some(first) = dup {
                    let what = match &event {
                        Some(e) => format!("{word} {}", e.name),
                        None => word.to_string(),
                    };
                    let d = Diagnostic::error(key.span, format!("duplicate key `{what}`"))
                        .with_label("given again here")
                        .with_secondary(first.key.span, "first given here");
                    self.report(d);
                    continue;
                }
            }
            let value_text = &self.text[colon + 1..end];
            let value_trimmed = value_text.trim_start();
            let inline = if value_trimmed.is_empty() {
                None
            } else {
                let vs = end - value_trimmed.len();
                Some((vs, end))
            };
            let has_block = block.0 < block.1;
            if let (Some(inl), true) = (inline, has_block) {
                let first = &self.lines[block.0];
                let last = &self.lines[block.1 - 1];
                self.report(
                    Diagnostic::error(
                        Span::new(first.start, last.end),
                        format!("`{word}:` has both a value after the colon and an indented block"),
                    )
                    .with_secondary(Span::new(inl.0, inl.1), "value after the colon")
                    .with_note("give the value either on the key's line or in the indented block, not both"),
                );
                continue;
            }
            if inline.is_none() && !has_block {
                let mut d = Diagnostic::error(
                    Span::new(colon, colon + 1),
                    format!("`{word}:` has no value"),
                )
                .with_label("expected a value after the colon")
                .with_note("write the value after the colon or in an indented block below the key");
                if word == "connect" {
                    d = d.with_note("connect every pair of neurons with `connect: all`");
                }
                self.report(d);
                continue;
            }
            let span_end = if has_block {
                self.lines[block.1 - 1].end.max(end)
            } else {
                end
            };
            out.push(KeyValue {
                key,
                event,
                inline,
                block,
                span: Span::new(start, span_end),
            });
        }
        out
    }

    fn report_not_a_key(&mut self, kind: Kind, decl: &Ident, start: usize, end: usize) {
        let valid = kind.keys();
        let text = &self.text[start..end];
        let shown: String = text.chars().take(30).collect();
        let mut d = Diagnostic::error(
            Span::new(start, end),
            if valid.is_empty() {
                format!("{} `{}` takes no body", kind.name(), decl.name)
            } else {
                format!(
                    "expected a key such as `{}:` in the body of {} `{}`, found `{}`",
                    valid[0],
                    kind.name(),
                    decl.name,
                    shown
                )
            },
        );
        if !valid.is_empty() {
            d = d.with_note(format!(
                "the keys of {} are {}",
                kind.name(),
                valid.join(", ")
            ));
        }
        if valid.contains(&"model") && (text.contains(" : ") || text.contains("/dt")) {
            d = d.with_note("equations belong in an indented block under `model:`");
        }
        self.report(d);
    }

    /// A key's value as one byte range: the inline value, or the whole
    /// indented block (whose lines are then one expression).
    fn value_range(&self, kv: &KeyValue) -> Option<(usize, usize)> {
        if let Some(r) = kv.inline {
            return Some(r);
        }
        let (a, b) = kv.block;
        if a >= b || self.any_poisoned(a, b) {
            return None;
        }
        Some((self.lines[a].start, self.lines[b - 1].end))
    }

    /// A key's value as separate lines: the inline value, or each line of
    /// the indented block joined with the lines indented under it.
    fn value_lines(&mut self, kv: &KeyValue) -> Vec<(usize, usize)> {
        if let Some(r) = kv.inline {
            return vec![r];
        }
        let (a, b) = kv.block;
        let mut out = Vec::new();
        for k in self.siblings(a, b) {
            let end = self.lines[k].children_end.max(k + 1).min(b);
            if !self.any_poisoned(k, end) {
                out.push(self.joined(k));
            }
        }
        out
    }

    fn value_expr(&mut self, kv: &KeyValue) -> Option<Expr> {
        let range = self.value_range(kv)?;
        self.parse_region(Rule::expr_only, range, |c, span, parts| {
            let e = parts
                .into_iter()
                .next()
                .ok_or_else(|| Diagnostic::error(span, "internal parser error"))?;
            c.expr(e)
        })
    }

    fn value_name(&mut self, kv: &KeyValue) -> Option<Ident> {
        let range = self.value_range(kv)?;
        self.parse_region(Rule::name_only, range, |c, span, parts| {
            let p = parts
                .into_iter()
                .next()
                .ok_or_else(|| Diagnostic::error(span, "internal parser error"))?;
            Ok(c.ident(&p))
        })
    }

    fn value_path(&mut self, kv: &KeyValue) -> Option<PathLit> {
        let (start, end) = self.value_range(kv)?;
        let text = &self.text[start..end];
        let span = Span::new(start, end);
        let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"');
        let path = match quote {
            Some(q) => {
                if text.len() < 2 || !text.ends_with(q) {
                    self.report(
                        Diagnostic::error(span, "this quoted path is not closed")
                            .with_note(format!("end it with `{q}`")),
                    );
                    return None;
                }
                text[1..text.len() - 1].to_string()
            }
            None => text.to_string(),
        };
        if path.trim().is_empty() {
            self.report(Diagnostic::error(span, "the file path is empty"));
            return None;
        }
        Some(PathLit { path, span })
    }

    fn equations(&mut self, kv: &KeyValue) -> Vec<Equation> {
        let mut out = Vec::new();
        for range in self.value_lines(kv) {
            let eq = self.parse_region(Rule::equation, range, |c, span, parts| {
                c.equation(span, parts)
            });
            out.extend(eq);
        }
        out
    }

    fn block(&mut self, kv: &KeyValue) -> Option<Block> {
        let lines = self.value_lines(kv);
        let span = match (lines.first(), lines.last()) {
            (Some(a), Some(b)) => Span::new(a.0, b.1),
            _ => return None,
        };
        let mut statements = Vec::new();
        let mut ok = true;
        for range in lines {
            let stmts = self.parse_region(Rule::statements, range, |c, _, parts| {
                parts
                    .into_iter()
                    .filter(|p| p.as_rule() == Rule::statement)
                    .map(|p| c.statement(p))
                    .collect::<Result<Vec<_>, _>>()
            });
            match stmts {
                Some(s) => statements.extend(s),
                None => ok = false,
            }
        }
        // A block with a broken line is dropped entirely: running the other
        // statements without it would change their meaning.
        ok.then_some(Block { statements, span })
    }

    /// `OBJECT.PART.when = 'SLOT'`, `OBJECT.PART['EVENT'].order = N`
    /// (Brian2's schedule attributes of a part of a group or Synapses
    /// object); `None` when the line is not of that shape.
    fn schedule_statement(&mut self, start: usize, end: usize) -> Option<Option<Item>> {
        let text = &self.text[start..end];
        let ident_end = |s: &str| s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
        let ident = |a: usize, b: usize| Ident {
            name: text[a..b].to_string(),
            span: Span::new(start + a, start + b),
        };
        let (o_len, p_start, p_end) = dotted_pair(text)?;
        let mut pos = p_end;
        // `['spike']` (or `[spike]`) after `thresholder`/`resetter`.
        let mut event = None;
        if text[pos..].starts_with('[') {
            let close = pos + text[pos..].find(']')?;
            let inner = &text[pos + 1..close];
            let lead = inner.len() - inner.trim_start().len();
            let trimmed = inner.trim();
            let unquoted = trimmed.trim_matches(['\'', '"']);
            let e_start = pos + 1 + lead + trimmed.find(unquoted).unwrap_or(0);
            if unquoted.is_empty() || ident_end(unquoted) != unquoted.len() {
                return None;
            }
            event = Some(ident(e_start, e_start + unquoted.len()));
            pos = close + 1;
        }
        if !text[pos..].starts_with('.') {
            return None;
        }
        let a_start = pos + 1;
        let a_end = a_start + ident_end(&text[a_start..]);
        let attribute = &text[a_start..a_end];
        if attribute != "when" && attribute != "order" {
            return None;
        }
        let rest = &text[a_end..];
        let after = rest.trim_start();
        if !after.starts_with('=') || after.starts_with("==") {
            return None;
        }
        let v_start = a_end + (rest.len() - after.len()) + 1;
        let value_text = text[v_start..].trim();
        let v_start = v_start + (text[v_start..].len() - text[v_start..].trim_start().len());
        let span = Span::new(start, end);
        let value = if attribute == "when" {
            let unquoted = value_text.trim_matches(['\'', '"']);
            let lead = value_text.find(unquoted).unwrap_or(0);
            if unquoted.is_empty() || ident_end(unquoted) != unquoted.len() {
                self.report(
                    Diagnostic::error(
                        Span::new(start + v_start, end),
                        "expected the name of a schedule slot, such as 'before_groups'",
                    )
                    .with_note(
                        "`when` is one of start, groups, thresholds, synapses, resets, end, \
                         or one of them with `before_` or `after_`",
                    ),
                );
                return Some(None);
            }
            let a = v_start + lead;
            ScheduleValue::When(ident(a, a + unquoted.len()))
        } else {
            let value =
                self.parse_region(Rule::expr_only, (start + v_start, end), |c, span, parts| {
                    let e = parts
                        .into_iter()
                        .next()
                        .ok_or_else(|| Diagnostic::error(span, "internal parser error"))?;
                    c.expr(e)
                });
            match value {
                Some(v) => ScheduleValue::Order(v),
                None => return Some(None),
            }
        };
        Some(Some(Item::SetSchedule(SetSchedule {
            object: ident(0, o_len),
            part: ident(p_start, p_end),
            event,
            value,
            target: Span::new(start, start + a_end),
            span,
        })))
    }

    /// `S.NAME.delay = EXPR` (Brian2's delay of the pathway NAME): `None`
    /// when the line is not of that shape, else the item, or `Some(None)`
    /// after reporting an error in the value.
    fn pathway_delay_statement(&mut self, start: usize, end: usize) -> Option<Option<Item>> {
        let text = &self.text[start..end];
        let ident = |a: usize, b: usize| Ident {
            name: text[a..b].to_string(),
            span: Span::new(start + a, start + b),
        };
        let (s_len, p_start, p_end) = dotted_pair(text)?;
        if !text[p_end..].starts_with(".delay") {
            return None;
        }
        let rest = &text[p_end + ".delay".len()..];
        let after = rest.trim_start();
        if rest.starts_with(|c: char| is_ident_char(c))
            || !after.starts_with('=')
            || after.starts_with("==")
        {
            return None;
        }
        let v_start = start + (end - start - after.len()) + 1;
        let value = self.parse_region(Rule::expr_only, (v_start, end), |c, span, parts| {
            let e = parts
                .into_iter()
                .next()
                .ok_or_else(|| Diagnostic::error(span, "internal parser error"))?;
            c.expr(e)
        });
        Some(value.map(|value| Item::SetPathwayDelay {
            synapses: ident(0, s_len),
            pathway: ident(p_start, p_end),
            value,
            span: Span::new(start, end),
        }))
    }

    /// `G.v[SELECTOR] = EXPR` (Brian2's indexed and conditional
    /// assignment): `None` when the line is not of that shape, else the
    /// item, or `Some(None)` after reporting an error.
    fn indexed_assignment(&mut self, start: usize, end: usize) -> Option<Option<Item>> {
        let text = &self.text[start..end];
        let ident_end = |s: &str| s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
        let g_len = ident_end(text);
        if g_len == 0 || !text[g_len..].starts_with('.') {
            return None;
        }
        let v_start = g_len + 1;
        let v_len = ident_end(&text[v_start..]);
        let open = v_start + v_len;
        if v_len == 0 || !text[open..].starts_with('[') {
            return None;
        }
        // The matching `]`, skipping quoted text and nested brackets.
        let mut depth = 0;
        let mut quote = None;
        let mut close = None;
        for (k, ch) in text[open..].char_indices() {
            match (quote, ch) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(ch),
                (None, '[') => depth += 1,
                (None, ']') => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(open + k);
                        break;
                    }
                }
                _ => {}
            }
        }
        let close = close?;
        let rest = &text[close + 1..];
        let after = rest.trim_start();
        if !after.starts_with('=') || after.starts_with("==") {
            return None;
        }
        let eq = close + 1 + (rest.len() - after.len());
        let ident = |a: usize, b: usize| Ident {
            name: text[a..b].to_string(),
            span: Span::new(start + a, start + b),
        };
        let group = ident(0, g_len);
        let variable = ident(v_start, open);
        let span = Span::new(start, end);
        let inner = (start + open + 1, start + close);
        let inner_text = text[open + 1..close].trim();
        let expr = |p: &mut Self, (a, b): (usize, usize)| {
            p.parse_region(Rule::expr_only, (a, b), |c, span, parts| {
                let e = parts
                    .into_iter()
                    .next()
                    .ok_or_else(|| Diagnostic::error(span, "internal parser error"))?;
                c.expr(e)
            })
        };
        let selector = if let Some(q) = inner_text
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')
        {
            let lead = text[open + 1..close].len() - text[open + 1..close].trim_start().len();
            let qa = inner.0 + lead;
            let qb = qa + inner_text.len();
            if inner_text.len() < 2 || !inner_text.ends_with(q) {
                self.report(Diagnostic::error(
                    Span::new(qa, qb),
                    "this quoted condition is not closed",
                ));
                return Some(None);
            }
            match expr(self, (qa + 1, qb - 1)) {
                Some(e) => Selector::Condition(e),
                None => return Some(None),
            }
        } else if let Some(colon) = text[open + 1..close].find(':') {
            let c = inner.0 + colon;
            let bound = |p: &mut Self, (a, b): (usize, usize)| -> Result<Option<Expr>, ()> {
                if p.text[a..b].trim().is_empty() {
                    Ok(None)
                } else {
                    expr(p, (a, b)).map(Some).ok_or(())
                }
            };
            let (Ok(lo), Ok(hi)) = (bound(self, (inner.0, c)), bound(self, (c + 1, inner.1)))
            else {
                return Some(None);
            };
            Selector::Slice(Slice {
                start: lo,
                stop: hi,
                span: Span::new(inner.0, inner.1),
            })
        } else {
            match expr(self, inner) {
                Some(e) => Selector::Index(e),
                None => return Some(None),
            }
        };
        let Some(value) = expr(self, (start + eq + 1, end)) else {
            return Some(None);
        };
        Some(Some(Item::SetVariableWhere {
            group,
            variable,
            selector,
            value,
            span,
        }))
    }

    /// `G.run_regularly:` or `G[a:b].run_regularly:` at the top level
    /// (Brian2's `G.run_regularly(...)`, or `N_exc.run_regularly(...)`
    /// on a subgroup `N_exc = N[:Ne]`), with its block of keys; `None`
    /// if line `k` is something else.
    fn top_run_regularly(&mut self, k: usize, block_end: usize) -> Option<Option<Item>> {
        let line = &self.lines[k];
        let (start, end) = (line.start, line.end);
        let text = &self.text[start..end];
        // `HEAD.run_regularly:` then nothing, or a value on the same line
        // (refused as for a `run_regularly:` key in a body).
        let at = text.find(".run_regularly")?;
        let after = &text[at + ".run_regularly".len()..];
        let colon = after.len() - after.trim_start().len();
        if !after[colon..].starts_with(':') {
            return None;
        }
        let header_end = start + at + ".run_regularly".len() + colon + 1;
        let rest = &self.text[header_end..end];
        let value = rest.trim();
        let inline = (!value.is_empty()).then(|| {
            let a = header_end + rest.len() - rest.trim_start().len();
            (a, a + value.len())
        });
        let head = &text[..at + 1];
        let span = Span::new(start, self.lines[block_end - 1].end.max(end));
        let target = self.parse_region(
            Rule::regular_header,
            (start, header_end),
            |c, span, parts| {
                let target = parts
                    .into_iter()
                    .find(|p| p.as_rule() == Rule::group_ref)
                    .ok_or_else(|| Diagnostic::error(span, "internal parser error"))?;
                c.group_ref(target)
            },
        );
        let Some(target) = target else {
            // Reported; not read again as another statement.
            return Some(None);
        };
        let key_start = start + head.len();
        let kv = KeyValue {
            key: Ident {
                name: "run_regularly".to_string(),
                span: Span::new(key_start, key_start + "run_regularly".len()),
            },
            event: None,
            inline,
            block: (k + 1, block_end),
            span,
        };
        if k + 1 >= block_end && inline.is_none() {
            self.report(
                Diagnostic::error(kv.key.span, "`run_regularly:` has no `code:`").with_note(
                    "give the statements to run in an indented block under it, as \
                     `code: v = rand()*mV`, with optional `dt:`, `when:` and `order:`",
                ),
            );
            return Some(None);
        }
        Some(self.run_regularly(&kv).map(|block| Item::RunRegularly {
            target,
            block,
            span,
        }))
    }

    /// A `run_regularly:` block: its indented lines are keys of their own
    /// (`code:`, `dt:`, `when:`, `order:`, Brian2's keyword arguments).
    fn run_regularly(&mut self, kv: &KeyValue) -> Option<RunRegularly> {
        if let Some((a, b)) = kv.inline {
            self.report(
                Diagnostic::error(
                    Span::new(a, b),
                    "`run_regularly:` takes an indented block of keys, not a value",
                )
                .with_note(
                    "write the statements under `code:` in the block, with optional `dt:`, `when:` and `order:`",
                ),
            );
            return None;
        }
        let keys = self.body(Kind::RunRegularly, &kv.key, kv.block.0, kv.block.1);
        let mut r = RunRegularly {
            code: None,
            dt: None,
            clock: None,
            when: None,
            order: None,
            span: kv.span,
        };
        let has_code = keys.iter().any(|k| k.key.name == "code");
        for k in keys {
            match k.key.name.as_str() {
                "code" => r.code = self.block(&k),
                "dt" => r.dt = self.value_expr(&k),
                "clock" => r.clock = self.value_name(&k),
                "when" => r.when = self.value_name(&k),
                "order" => r.order = self.value_expr(&k),
                _ => {}
            }
        }
        if !has_code {
            self.report(
                Diagnostic::error(kv.key.span, "`run_regularly:` has no `code:`").with_note(
                    "give the statements to run under `code:`, e.g. `code: v = rand()*mV`",
                ),
            );
        }
        r.code.is_some().then_some(r)
    }

    fn events(&mut self, kv: &KeyValue) -> Vec<EventDecl> {
        let mut out = Vec::new();
        for range in self.value_lines(kv) {
            let ev = self.parse_region(Rule::event_line, range, |c, span, parts| {
                let mut name = None;
                let mut condition = None;
                for p in parts {
                    match p.as_rule() {
                        Rule::ident => name = Some(c.ident(&p)),
                        Rule::expr => condition = Some(c.expr(p)?),
                        _ => {}
                    }
                }
                match (name, condition) {
                    (Some(name), Some(condition)) => Ok(EventDecl {
                        name,
                        condition,
                        span,
                    }),
                    _ => Err(Diagnostic::error(span, "internal parser error")),
                }
            });
            out.extend(ev);
        }
        out
    }

    fn names(&mut self, kv: &KeyValue) -> Vec<Ident> {
        let mut out = Vec::new();
        for range in self.value_lines(kv) {
            let names = self.parse_region(Rule::name_list, range, |c, _, parts| {
                Ok(parts
                    .into_iter()
                    .filter(|p| p.as_rule() == Rule::ident)
                    .map(|p| c.ident(&p))
                    .collect::<Vec<_>>())
            });
            out.extend(names.into_iter().flatten());
        }
        out
    }

    fn record(&mut self, kv: &KeyValue) -> Option<Record> {
        let range = self.value_range(kv)?;
        let text = &self.text[range.0..range.1];
        // Brian2's `record=True` records every element, and `record=False`
        // none; without this, `True` would be the number 1 (one neuron).
        if text == "all" || text == "True" {
            return Some(Record::All(Span::new(range.0, range.1)));
        }
        if text == "False" {
            return Some(Record::List(Vec::new()));
        }
        // `S[i, :]`: a Synapses object indexed by neurons, the whole value
        // a name followed by one bracket (a list such as `a[0], 1` goes
        // on to the list rule below).
        if let (Some((head, _)), true) = (text.split_once('['), text.ends_with(']')) {
            let head = head.trim_end();
            if !head.is_empty() && head.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return self.parse_region(Rule::record_pairs, range, |c, span, parts| {
                    let mut name = None;
                    let mut sides = Vec::new();
                    for p in parts {
                        match p.as_rule() {
                            Rule::ident => name = Some(c.ident(&p)),
                            Rule::pair_side => {
                                let e = p.into_inner().find(|q| q.as_rule() == Rule::expr);
                                sides.push(match e {
                                    Some(e) => Some(c.expr(e)?),
                                    None => None,
                                });
                            }
                            _ => {}
                        }
                    }
                    let mut sides = sides.into_iter();
                    match (name, sides.next(), sides.next()) {
                        (Some(synapses), Some(pre), Some(post)) => Ok(Record::Pairs {
                            synapses,
                            pre,
                            post,
                            span,
                        }),
                        (Some(s), Some(_), None) => Err(Diagnostic::error(
                            span,
                            format!(
                                "`{0}[...]` in `record:` takes a source and a target neuron \
                                 (`{0}[i, :]`, `{0}[:, j]` or `{0}[i, j]`); to record synapse \
                                 indices, list them (`record: 3`)",
                                s.name
                            ),
                        )
                        .with_label("one index where two are needed")),
                        _ => Err(Diagnostic::error(span, "internal parser error")),
                    }
                });
            }
        }
        self.parse_region(Rule::record_value, range, |c, span, parts| {
            let mut exprs = Vec::new();
            let mut is_range = false;
            for p in parts {
                match p.as_rule() {
                    Rule::expr => exprs.push(c.expr(p)?),
                    Rule::range_rest | Rule::list_rest => {
                        is_range = p.as_rule() == Rule::range_rest;
                        for q in p.into_inner().filter(|q| q.as_rule() == Rule::expr) {
                            exprs.push(c.expr(q)?);
                        }
                    }
                    _ => {}
                }
            }
            if is_range {
                let mut it = exprs.into_iter();
                match (it.next(), it.next()) {
                    (Some(start), Some(stop)) => Ok(Record::Range {
                        start,
                        stop,
                        step: it.next(),
                        span,
                    }),
                    _ => Err(Diagnostic::error(span, "internal parser error")),
                }
            } else if let [whole] = exprs.as_slice() {
                Ok(bracketed_record(whole).unwrap_or(Record::List(exprs)))
            } else {
                Ok(Record::List(exprs))
            }
        })
    }

    fn connects(&mut self, kv: &KeyValue) -> Vec<Connect> {
        let mut out = Vec::new();
        for range in self.value_lines(kv) {
            let text = &self.text[range.0..range.1];
            if text == "all" {
                out.push(Connect {
                    span: Span::new(range.0, range.1),
                    ..Connect::default()
                });
                continue;
            }
            let c = self.parse_region(Rule::connect_args, range, |c, span, parts| {
                c.connect(span, parts)
            });
            out.extend(c);
        }
        out
    }
}

/// `NAME.PART...` at the start of `text`: the length of NAME and where
/// PART starts and ends (byte offsets in `text`), or `None` when `text`
/// does not start with two names joined by a dot.
fn dotted_pair(text: &str) -> Option<(usize, usize, usize)> {
    let ident_end = |s: &str| s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
    let first = ident_end(text);
    if first == 0 || !text[first..].starts_with('.') {
        return None;
    }
    let part_start = first + 1;
    let part_end = part_start + ident_end(&text[part_start..]);
    (part_end > part_start).then_some((first, part_start, part_end))
}

/// Whether a top-level line is `NAME = G[a:b]` (a name for a subgroup):
/// a name, `=`, a name and one bracket holding a `:`, which no expression
/// has (`W[i, j]` is an element of an array, `[1, 2]` a list).
fn is_subgroup_line(text: &str) -> bool {
    let ident_end = |s: &str| s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
    let n = ident_end(text);
    let Some(rhs) = text[n..].trim_start().strip_prefix('=') else {
        return false;
    };
    if n == 0 || rhs.starts_with('=') {
        return false;
    }
    let rhs = rhs.trim();
    let g = ident_end(rhs);
    let rest = rhs[g..].trim_start();
    g > 0
        && !rhs.starts_with(|c: char| c.is_ascii_digit())
        && rest.starts_with('[')
        && rest.ends_with(']')
        && rest[1..rest.len() - 1].contains(':')
        && !rest[1..rest.len() - 1].contains(['[', ']'])
}

/// Brian2's ways of writing the elements a StateMonitor records as one
/// Python value: `record: [0, 77, 121]` (`record=[0, 77, 121]`, the same
/// as `record: 0, 77, 121`) and `record: range(a, b, s)` or
/// `arange(a, b, s)` (the same as `a:b:s`). Any other single value is a
/// one-element list.
fn bracketed_record(whole: &Expr) -> Option<Record> {
    match &whole.kind {
        ExprKind::List(items) => Some(Record::List(items.clone())),
        ExprKind::Call { function, args }
            if matches!(function.name.as_str(), "range" | "arange")
                && (1..=3).contains(&args.len()) =>
        {
            let zero = || Expr {
                kind: ExprKind::Number {
                    value: 0.0,
                    is_integer: true,
                },
                span: function.span,
            };
            // `range(stop)` starts at 0, as Python's.
            let mut args = args.iter().cloned();
            let (start, stop) = if args.len() == 1 {
                (zero(), args.next()?)
            } else {
                (args.next()?, args.next()?)
            };
            Some(Record::Range {
                start,
                stop,
                step: args.next(),
                span: whole.span,
            })
        }
        _ => None,
    }
}
