//! Tracking annotations as a graph: objects (nodes) at a frame and position, links (edges)
//! from an object to its successor in a later frame. Splits (a node with several successors)
//! and merges (several predecessors) are allowed; tracklets (maximal unbranched paths) and
//! lineages (connected components) are derived, never stored.
//!
//! Positions are level-0 pixel coordinates on mifa's corner convention: the centre of pixel
//! `(x, y)` is `(x + 0.5, y + 0.5)`. Readers of formats that put centres on integers (CTC mask
//! centroids, TrackMate) shift by half a pixel.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// One tracked object at one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Identifier, unique in the graph.
    pub id: u64,
    /// Frame index (0-based).
    pub t: i64,
    /// Column coordinate.
    pub x: f64,
    /// Row coordinate.
    pub y: f64,
    /// Depth, for 3D.
    pub z: Option<f64>,
    /// Value of this object in the frame's label mask, when there is one.
    pub label: Option<u64>,
    /// Free features (TrackMate spot features, CMSO extra columns, …).
    pub props: Map<String, Value>,
}

/// A link from an object to one in a later frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Edge {
    /// The earlier object.
    pub source: u64,
    /// The later object.
    pub target: u64,
}

/// Objects and links.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrackGraph {
    /// Objects.
    pub nodes: Vec<Node>,
    /// Links.
    pub edges: Vec<Edge>,
}

/// Counts that reference tools report, for comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Objects.
    pub nodes: usize,
    /// Links.
    pub edges: usize,
    /// Objects with more than one successor.
    pub divisions: usize,
    /// Objects with more than one predecessor.
    pub merges: usize,
    /// Maximal unbranched paths (CTC tracks, geff tracklets).
    pub tracklets: usize,
    /// Connected components (lineages).
    pub lineages: usize,
    /// Links that skip at least one frame.
    pub gaps: usize,
}

impl TrackGraph {
    fn index(&self) -> HashMap<u64, usize> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id, i))
            .collect()
    }

    /// Consistency problems, each naming the ids: duplicate object ids, links to missing
    /// objects, duplicate links, links that do not go forward in time (which also rules out
    /// cycles).
    pub fn check(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen: HashMap<u64, usize> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(j) = seen.insert(n.id, i) {
                out.push(format!(
                    "object id {} is used twice (entries {} and {})",
                    n.id,
                    j + 1,
                    i + 1
                ));
            }
        }
        let at = self.index();
        let mut links = std::collections::HashSet::new();
        for e in &self.edges {
            let (Some(&s), Some(&t)) = (at.get(&e.source), at.get(&e.target)) else {
                let missing = if at.contains_key(&e.source) {
                    e.target
                } else {
                    e.source
                };
                out.push(format!(
                    "link {} -> {} names object {missing}, which does not exist",
                    e.source, e.target
                ));
                continue;
            };
            if !links.insert(*e) {
                out.push(format!("link {} -> {} is listed twice", e.source, e.target));
            }
            let (ts, tt) = (self.nodes[s].t, self.nodes[t].t);
            if ts >= tt {
                out.push(format!(
                    "link {} -> {} goes from frame {ts} to frame {tt}; a parent must precede its child",
                    e.source, e.target
                ));
            }
        }
        out
    }

    /// Successors and predecessors of each node (by index).
    fn adjacency(&self) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        let at = self.index();
        let mut next = vec![Vec::new(); self.nodes.len()];
        let mut prev = vec![Vec::new(); self.nodes.len()];
        for e in &self.edges {
            if let (Some(&s), Some(&t)) = (at.get(&e.source), at.get(&e.target)) {
                next[s].push(t);
                prev[t].push(s);
            }
        }
        (next, prev)
    }

    /// Tracklets: maximal paths where every inner link is the only one out of its source and
    /// into its target; each as node ids in time order. Every node is in exactly one.
    pub fn tracklets(&self) -> Vec<Vec<u64>> {
        let (next, prev) = self.adjacency();
        let starts_here = |i: usize| prev[i].len() != 1 || next[prev[i][0]].len() != 1;
        let mut out = Vec::new();
        for i in 0..self.nodes.len() {
            if !starts_here(i) {
                continue;
            }
            let mut path = vec![self.nodes[i].id];
            let mut cur = i;
            while next[cur].len() == 1 && prev[next[cur][0]].len() == 1 {
                cur = next[cur][0];
                path.push(self.nodes[cur].id);
            }
            out.push(path);
        }
        out
    }

    /// Lineage number of each node id (connected components, numbered from 1 in node order).
    pub fn lineages(&self) -> BTreeMap<u64, usize> {
        let (next, prev) = self.adjacency();
        let mut comp = vec![0usize; self.nodes.len()];
        let mut n = 0;
        for start in 0..self.nodes.len() {
            if comp[start] != 0 {
                continue;
            }
            n += 1;
            let mut stack = vec![start];
            comp[start] = n;
            while let Some(i) = stack.pop() {
                for &j in next[i].iter().chain(&prev[i]) {
                    if comp[j] == 0 {
                        comp[j] = n;
                        stack.push(j);
                    }
                }
            }
        }
        self.nodes
            .iter()
            .zip(comp)
            .map(|(node, c)| (node.id, c))
            .collect()
    }

    /// Counts.
    pub fn stats(&self) -> Stats {
        let (next, prev) = self.adjacency();
        let at = self.index();
        let gaps = self
            .edges
            .iter()
            .filter(|e| match (at.get(&e.source), at.get(&e.target)) {
                (Some(&s), Some(&t)) => self.nodes[t].t - self.nodes[s].t > 1,
                _ => false,
            })
            .count();
        Stats {
            nodes: self.nodes.len(),
            edges: self.edges.len(),
            divisions: next.iter().filter(|v| v.len() > 1).count(),
            merges: prev.iter().filter(|v| v.len() > 1).count(),
            tracklets: self.tracklets().len(),
            lineages: self.lineages().values().max().copied().unwrap_or(0),
            gaps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u64, t: i64) -> Node {
        Node {
            id,
            t,
            x: 0.0,
            y: 0.0,
            z: None,
            label: None,
            props: Map::new(),
        }
    }

    #[test]
    fn division_gap_and_merge_are_counted() {
        // 1 -> 2 -> {3, 4}; 4 -(gap)-> 5; 6 -> 5 (merge); 7 alone.
        let g = TrackGraph {
            nodes: vec![
                node(1, 0),
                node(2, 1),
                node(3, 2),
                node(4, 2),
                node(5, 4),
                node(6, 3),
                node(7, 0),
            ],
            edges: [(1, 2), (2, 3), (2, 4), (4, 5), (6, 5)]
                .map(|(source, target)| Edge { source, target })
                .to_vec(),
        };
        assert!(g.check().is_empty());
        let s = g.stats();
        assert_eq!(
            s,
            Stats {
                nodes: 7,
                edges: 5,
                divisions: 1,
                merges: 1,
                tracklets: 6,
                lineages: 2,
                gaps: 1
            }
        );
        assert_eq!(g.tracklets()[0], vec![1, 2]);
    }

    #[test]
    fn problems_name_the_ids() {
        let g = TrackGraph {
            nodes: vec![node(1, 3), node(2, 1), node(2, 5)],
            edges: vec![
                Edge {
                    source: 1,
                    target: 2,
                },
                Edge {
                    source: 1,
                    target: 9,
                },
            ],
        };
        let p = g.check().join("\n");
        assert!(p.contains("object id 2 is used twice"), "{p}");
        assert!(
            p.contains("link 1 -> 9 names object 9, which does not exist"),
            "{p}"
        );
    }
}
