//! What each archive records, in words a reader needs no other file for:
//! the monitor's kind, the group (or Synapses object) it records, which of
//! its elements, and the unit of every array (`v`: `volt`).
//!
//! Units are erased from the lowered program (values are plain SI
//! numbers), so they are read again from the model's declarations: the
//! unit after `:` of each equation, and the fixed units of the variables
//! every group has (`t`, `lastspike`, `rates`, ...).

use rheobase::kernel::program::{MonitorPlan, Program};
use rheobase::syntax::ast::{Item, Model};
use rheobase::units::parse_declaration;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Units of the variables of every group and Synapses object, by
/// `(object, variable)`, as `Dimension`'s display (`volt`, `1`).
pub struct Units {
    by_variable: HashMap<(String, String), String>,
}

impl Units {
    /// Reads the declared units of `source`. A model that compiled also
    /// parses, so a parse failure here only means no units are known.
    pub fn of(source: &str) -> Units {
        let mut units = Units {
            by_variable: HashMap::new(),
        };
        if let Ok(model) = rheobase::syntax::parse(source) {
            units.read(&model, source);
        }
        units
    }

    fn read(&mut self, model: &Model, source: &str) {
        let mut add = |object: &str, variable: &str, unit: String| {
            self.by_variable
                .insert((object.to_string(), variable.to_string()), unit);
        };
        for item in &model.items {
            let (name, equations, builtins): (&str, &[_], &[(&str, &str)]) = match item {
                Item::NeuronGroup(g) => (
                    &g.name.name,
                    &g.model,
                    &[
                        ("i", "1"),
                        ("N", "1"),
                        ("lastspike", "second"),
                        ("not_refractory", "1"),
                    ],
                ),
                Item::Synapses(s) => (
                    &s.name.name,
                    &s.model,
                    &[
                        ("i", "1"),
                        ("j", "1"),
                        ("N", "1"),
                        ("delay", "second"),
                        ("lastupdate", "second"),
                        ("N_incoming", "1"),
                        ("N_outgoing", "1"),
                    ],
                ),
                Item::PoissonGroup(p) => (
                    &p.name.name,
                    &[],
                    &[("i", "1"), ("N", "1"), ("rates", "hertz")],
                ),
                Item::SpikeGeneratorGroup(g) => (&g.name.name, &[], &[("i", "1"), ("N", "1")]),
                _ => continue,
            };
            for (variable, unit) in builtins {
                add(name, variable, unit.to_string());
            }
            for eq in equations {
                let text = source
                    .get(eq.unit.span.start..eq.unit.span.end)
                    .unwrap_or("");
                if let Ok(dimension) = parse_declaration(text) {
                    add(name, &eq.variable.name, dimension.to_string());
                }
            }
        }
    }

    /// The unit of `variable` of `object`, if known.
    pub fn get(&self, object: &str, variable: &str) -> Option<&str> {
        if variable == "t" {
            return Some("second");
        }
        self.by_variable
            .get(&(object.to_string(), variable.to_string()))
            .map(String::as_str)
    }
}

/// The description of monitor `plan`: its kind, what it records and the
/// unit of each of its arrays (null where unknown). Written into its
/// archive as `metadata` and into run.json under `recordings`.
pub fn describe(plan: &MonitorPlan, program: &Program, units: &Units) -> Value {
    let group_name = |g: usize| program.groups.get(g).map_or("?", |g| g.name.as_str());
    let mut array_units = Map::new();
    let unit_of = |array_units: &mut Map<String, Value>, object: &str, array: &str| {
        array_units.insert(array.to_string(), json!(units.get(object, array)));
    };
    let (kind, source) = match plan {
        MonitorPlan::Spike {
            group,
            start,
            stop,
            variables,
            event,
            record,
            ..
        } => {
            let g = group_name(*group);
            if *record {
                unit_of(&mut array_units, g, "i");
                unit_of(&mut array_units, g, "t");
            }
            array_units.insert("count".into(), json!("1"));
            for v in variables {
                unit_of(&mut array_units, g, &v.name);
            }
            let event = event.and_then(|e| program.groups.get(*group)?.events.get(e.index));
            match event {
                Some(e) => (
                    "EventMonitor",
                    json!({ "group": g, "start": start, "stop": stop, "event": e.name }),
                ),
                None => (
                    "SpikeMonitor",
                    json!({ "group": g, "start": start, "stop": stop }),
                ),
            }
        }
        MonitorPlan::State {
            group,
            synapses,
            source_start,
            variables,
            ..
        } => {
            let (object, source) = match synapses.and_then(|s| program.synapses.get(s)) {
                Some(s) => (s.name.as_str(), json!({ "synapses": s.name })),
                None => {
                    // `record` counts from the first neuron of the
                    // monitored slice, as Brian2's does.
                    let g = group_name(*group);
                    (g, json!({ "group": g, "start": source_start }))
                }
            };
            unit_of(&mut array_units, object, "t");
            array_units.insert("record".into(), json!("1"));
            for v in variables {
                unit_of(&mut array_units, object, &v.name);
            }
            ("StateMonitor", source)
        }
        MonitorPlan::Rate {
            group, start, stop, ..
        } => {
            let g = group_name(*group);
            unit_of(&mut array_units, g, "t");
            array_units.insert("rate".into(), json!("hertz"));
            (
                "PopulationRateMonitor",
                json!({ "group": g, "start": start, "stop": stop }),
            )
        }
    };
    json!({
        "monitor": plan.name(),
        "type": kind,
        "source": source,
        "units": array_units,
    })
}
