//! The dependency graph between changes: checked (every id known, no self-dependency, no
//! cycle) and ordered so that every change comes after the changes it depends on.

use std::collections::{BTreeMap, BTreeSet};

/// A dependency declaration that cannot be honoured.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "change `{id}` depends on `{dependency}`, which is not a change in this repository: fix the id or remove it from the dependencies of `{id}`"
    )]
    Unknown { id: String, dependency: String },
    #[error("change `{id}` depends on itself: remove `{id}` from its own dependencies")]
    SelfDependency { id: String },
    #[error(
        "changes depend on each other in a cycle: {}: remove one of these dependencies",
        cycle_text(ids)
    )]
    Cycle {
        /// The members in dependency order; each depends on the next, the last on the first.
        ids: Vec<String>,
    },
}

fn cycle_text(ids: &[String]) -> String {
    let mut parts: Vec<String> = ids.iter().map(|id| format!("`{id}`")).collect();
    if let Some(first) = parts.first().cloned() {
        parts.push(first);
    }
    parts.join(" → ")
}

/// Orders the nodes (id, dependencies) so that dependencies come first; among nodes that are
/// ready at the same time, the smallest id comes first. Returns indices into `nodes`.
///
/// Errors name the ids: an unknown dependency and a self-dependency are reported for the
/// smallest id that has one, a cycle with its members in order starting from its smallest id.
pub fn order<'a>(nodes: &[(&'a str, &'a [String])]) -> Result<Vec<usize>, Error> {
    let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.0, i)).collect();
    for &(id, deps) in sorted(nodes).iter().map(|&i| &nodes[i]) {
        for dep in deps {
            if dep == id {
                return Err(Error::SelfDependency { id: id.to_owned() });
            }
            if !index.contains_key(dep.as_str()) {
                return Err(Error::Unknown {
                    id: id.to_owned(),
                    dependency: dep.clone(),
                });
            }
        }
    }
    // Kahn's algorithm, ready set ordered by id.
    let mut waiting: Vec<usize> = nodes.iter().map(|n| n.1.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, (_, deps)) in nodes.iter().enumerate() {
        for dep in deps.iter() {
            if let Some(&j) = index.get(dep.as_str()) {
                dependents[j].push(i);
            }
        }
    }
    let mut ready: BTreeSet<(&str, usize)> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| waiting[*i] == 0)
        .map(|(i, n)| (n.0, i))
        .collect();
    let mut out = Vec::with_capacity(nodes.len());
    while let Some((_, i)) = ready.pop_first() {
        out.push(i);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.insert((nodes[d].0, d));
            }
        }
    }
    if out.len() < nodes.len() {
        return Err(Error::Cycle {
            ids: find_cycle(nodes, &index, &waiting),
        });
    }
    Ok(out)
}

fn sorted(nodes: &[(&str, &[String])]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| nodes[i].0);
    order
}

/// Walks from the smallest id still waiting, always to its smallest waiting dependency, until
/// an id repeats: the walk from that id onwards is a cycle.
fn find_cycle(
    nodes: &[(&str, &[String])],
    index: &BTreeMap<&str, usize>,
    waiting: &[usize],
) -> Vec<String> {
    let stuck = |i: usize| waiting[i] > 0;
    let Some(start) = sorted(nodes).into_iter().find(|&i| stuck(i)) else {
        return Vec::new();
    };
    let mut path = vec![start];
    let mut current = start;
    loop {
        // A node left waiting has at least one dependency that is also left waiting.
        let Some(next) = nodes[current]
            .1
            .iter()
            .filter_map(|d| index.get(d.as_str()).copied())
            .filter(|&j| stuck(j))
            .min_by_key(|&j| nodes[j].0)
        else {
            return Vec::new();
        };
        if let Some(at) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<String> = path[at..].iter().map(|&i| nodes[i].0.into()).collect();
            let smallest = (0..cycle.len()).min_by_key(|&k| &cycle[k]).unwrap_or(0);
            cycle.rotate_left(smallest);
            return cycle;
        }
        path.push(next);
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(spec: &[(&str, &[&str])]) -> Result<Vec<String>, Error> {
        let owned: Vec<(String, Vec<String>)> = spec
            .iter()
            .map(|(id, deps)| (id.to_string(), deps.iter().map(|d| d.to_string()).collect()))
            .collect();
        let nodes: Vec<(&str, &[String])> = owned
            .iter()
            .map(|(id, deps)| (id.as_str(), deps.as_slice()))
            .collect();
        order(&nodes).map(|o| o.into_iter().map(|i| owned[i].0.clone()).collect())
    }

    #[test]
    fn dependencies_first_then_by_id() {
        assert_eq!(
            run(&[
                ("d", &[]),
                ("c", &["b", "a"]),
                ("b", &["e"]),
                ("a", &[]),
                ("e", &[])
            ]),
            Ok(["a", "d", "e", "b", "c"].map(String::from).to_vec())
        );
        assert_eq!(run(&[]), Ok(vec![]));
    }

    #[test]
    fn unknown_and_self_name_the_ids() {
        assert_eq!(
            run(&[("b", &["ghost"]), ("a", &[])]),
            Err(Error::Unknown {
                id: "b".into(),
                dependency: "ghost".into()
            })
        );
        let err = run(&[("a", &["a"])]).unwrap_err();
        assert_eq!(err, Error::SelfDependency { id: "a".into() });
        assert!(err.to_string().contains("`a` depends on itself"));
    }

    #[test]
    fn cycle_names_members_in_order() {
        let err = run(&[
            ("x", &[]),
            ("c", &["a"]),
            ("b", &["c"]),
            ("a", &["b"]),
            ("z", &["a"]),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            Error::Cycle {
                ids: vec!["a".into(), "b".into(), "c".into()]
            }
        );
        assert!(err.to_string().contains("`a` → `b` → `c` → `a`"), "{err}");
        // A change depending on a cycle is not part of it.
        let err = run(&[("a", &["m"]), ("m", &["n"]), ("n", &["m"])]).unwrap_err();
        assert_eq!(
            err,
            Error::Cycle {
                ids: vec!["m".into(), "n".into()]
            }
        );
    }
}
