//! Tracking annotations as a graph: objects (nodes) at a frame and position, links (edges)
//! from an object to its successor in a later frame. Splits (a node with several successors)
//! and merges (several predecessors) are allowed; tracklets (maximal unbranched paths) and
//! lineages (connected components) are derived, never stored.
//!
//! Positions are level-0 pixel coordinates with pixel centres on integers, the convention of
//! every tracking format (CTC mask centroids, TrackMate, CMSO tools, geff): pixel `(x, y)` is
//! centred on `(x, y)`. mifa's GeoJSON and COCO annotations put pixel corners on integers, so
//! a track position `p` is the vector annotation coordinate `p + 0.5`.

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

impl Node {
    /// Why this object cannot be placed in any image: a negative frame, or a coordinate that
    /// is NaN or infinite. Every tracks reader refuses such objects and `validate` reports them.
    pub fn placement_problem(&self) -> Option<String> {
        if self.t < 0 {
            return Some(format!("frame {} is negative", self.t));
        }
        [("x", Some(self.x)), ("y", Some(self.y)), ("z", self.z)]
            .into_iter()
            .find_map(|(axis, v)| match v {
                Some(v) if !v.is_finite() => Some(format!("{axis} is {v}, not a finite number")),
                _ => None,
            })
    }
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
    #[doc(hidden)]
    pub fn index(&self) -> HashMap<u64, usize> {
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
            if let Some(p) = n.placement_problem() {
                out.push(format!("object {}: {p}", n.id));
            }
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
    #[doc(hidden)]
    pub fn adjacency(&self) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
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
        let mut seen = vec![false; self.nodes.len()];
        // Starts first, then whatever is left: nodes on a cycle (invalid graphs still get
        // every node into one tracklet, so writers never miss one).
        let order = (0..self.nodes.len())
            .filter(|&i| starts_here(i))
            .chain(0..self.nodes.len());
        for i in order {
            if seen[i] {
                continue;
            }
            seen[i] = true;
            let mut path = vec![self.nodes[i].id];
            let mut cur = i;
            while next[cur].len() == 1 && prev[next[cur][0]].len() == 1 && !seen[next[cur][0]] {
                cur = next[cur][0];
                seen[cur] = true;
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

/// `(group id, member id)` rows: CMSO links (link, object) or tracks (track, link).
pub type Pairs = Vec<(u64, u64)>;

/// A tracks annotation set: the graph plus what the formats carry around it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrackSet {
    /// Objects and links.
    pub graph: TrackGraph,
    /// Features of each link (TrackMate edge features, geff edge props): empty, or one map
    /// per entry of `graph.edges`.
    pub edge_props: Vec<Map<String, Value>>,
    /// CMSO link membership `(link id, object id)` as the source recorded it; empty when the
    /// source had none (then [`TrackSet::cmso_links`] derives it).
    pub links: Vec<(u64, u64)>,
    /// CMSO `(track id, link id)` rows as the source recorded them.
    pub tracks: Vec<(u64, u64)>,
    /// Unit of the source's space coordinates (before conversion to pixels), as written.
    pub space_unit: Option<String>,
    /// Unit of the source's time, as written.
    pub time_unit: Option<String>,
}

impl TrackSet {
    /// A set with no CMSO grouping and no link features.
    pub fn from_graph(graph: TrackGraph) -> TrackSet {
        TrackSet {
            graph,
            ..Default::default()
        }
    }

    /// Features of link `i` (empty when there are none).
    pub fn edge_props(&self, i: usize) -> Option<&Map<String, Value>> {
        self.edge_props.get(i).filter(|m| !m.is_empty())
    }

    /// CMSO links and tracks: the recorded ones, or derived from the graph. Derived links are
    /// the tracklets; at a division the mother object is repeated as the first object of each
    /// daughter link, at a merge the merged object is repeated as the last object of each
    /// incoming link (the CMSO convention), and a link between a division and a merge becomes
    /// a two-object link of its own. Tracks are the lineages. Sorting each link's objects by
    /// frame and joining neighbours gives back exactly the graph's links.
    pub fn cmso_links(&self) -> (Pairs, Pairs) {
        if !self.links.is_empty() {
            return (self.links.clone(), self.tracks.clone());
        }
        let g = &self.graph;
        let (next, prev) = g.adjacency();
        let at = g.index();
        let lineage = g.lineages();
        let mut links = Vec::new();
        let mut link_track = Vec::new();
        let mut push = |objects: &[u64], links: &mut Vec<(u64, u64)>| {
            let id = link_track.len() as u64 + 1;
            links.extend(objects.iter().map(|&o| (id, o)));
            link_track.push((lineage[&objects[0]] as u64, id));
        };
        let mut covered: std::collections::HashSet<(u64, u64)> = Default::default();
        for path in g.tracklets() {
            let mut objects = path.clone();
            let first = at[&path[0]];
            let last = at[path.last().expect("a tracklet has a node")];
            if prev[first].len() == 1 && next[prev[first][0]].len() > 1 {
                let p = g.nodes[prev[first][0]].id;
                covered.insert((p, path[0]));
                objects.insert(0, p);
            }
            if next[last].len() == 1 && prev[next[last][0]].len() > 1 {
                let s = g.nodes[next[last][0]].id;
                covered.insert((*path.last().expect("non-empty"), s));
                objects.push(s);
            }
            push(&objects, &mut links);
        }
        for e in &g.edges {
            let (Some(&s), Some(&t)) = (at.get(&e.source), at.get(&e.target)) else {
                continue;
            };
            if next[s].len() > 1 && prev[t].len() > 1 && !covered.contains(&(e.source, e.target)) {
                push(&[e.source, e.target], &mut links);
            }
        }
        (links, link_track)
    }

    /// The links implied by CMSO link membership: each link's objects sorted by frame (then
    /// id), neighbours joined, duplicates dropped. Objects missing from the graph are skipped
    /// (reported by [`TrackGraph::check`] through the caller).
    pub fn edges_from_links(nodes: &[Node], links: &[(u64, u64)]) -> Result<Vec<Edge>, String> {
        let frame: HashMap<u64, i64> = nodes.iter().map(|n| (n.id, n.t)).collect();
        let mut members: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for &(link, object) in links {
            if !frame.contains_key(&object) {
                return Err(format!(
                    "link {link} names object {object}, which does not exist"
                ));
            }
            members.entry(link).or_default().push(object);
        }
        let mut seen = std::collections::HashSet::new();
        let mut edges = Vec::new();
        for (link, mut objects) in members {
            objects.sort_by_key(|o| (frame[o], *o));
            objects.dedup();
            for w in objects.windows(2) {
                if frame[&w[0]] == frame[&w[1]] {
                    return Err(format!(
                        "link {link} holds objects {} and {} in the same frame {}; a link is a chain through time",
                        w[0], w[1], frame[&w[0]]
                    ));
                }
                let e = Edge {
                    source: w[0],
                    target: w[1],
                };
                if seen.insert(e) {
                    edges.push(e);
                }
            }
        }
        Ok(edges)
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

    #[test]
    fn derived_cmso_links_give_back_every_link() {
        // 1 -> 2 -> {3, 4}; 4 -(gap)-> 5; 6 -> 5 (merge); 8 -> {9, 10}, 11 -> 10: 8 -> 10 joins a
        // division to a merge.
        let g = TrackGraph {
            nodes: [
                (1, 0),
                (2, 1),
                (3, 2),
                (4, 2),
                (5, 4),
                (6, 3),
                (7, 0),
                (8, 0),
                (9, 1),
                (10, 1),
                (11, 0),
            ]
            .map(|(i, t)| node(i, t))
            .to_vec(),
            edges: [
                (1, 2),
                (2, 3),
                (2, 4),
                (4, 5),
                (6, 5),
                (8, 9),
                (8, 10),
                (11, 10),
            ]
            .map(|(source, target)| Edge { source, target })
            .to_vec(),
        };
        let set = TrackSet::from_graph(g.clone());
        let (links, tracks) = set.cmso_links();
        let mut back = TrackSet::edges_from_links(&g.nodes, &links).unwrap();
        back.sort();
        let mut want = g.edges.clone();
        want.sort();
        assert_eq!(back, want);
        // Every link belongs to a track, one track per lineage.
        let ids: std::collections::BTreeSet<u64> = links.iter().map(|l| l.0).collect();
        assert_eq!(ids.len(), tracks.len());
        let lineages: std::collections::BTreeSet<u64> = tracks.iter().map(|t| t.0).collect();
        assert_eq!(lineages.len(), 3);
    }

    #[test]
    fn check_reports_unplaceable_objects() {
        let mut g = TrackGraph {
            nodes: vec![node(1, -1), node(2, 1), node(3, 2)],
            edges: vec![],
        };
        g.nodes[1].y = f64::NAN;
        g.nodes[2].z = Some(f64::NEG_INFINITY);
        assert_eq!(
            g.check(),
            [
                "object 1: frame -1 is negative",
                "object 2: y is NaN, not a finite number",
                "object 3: z is -inf, not a finite number",
            ]
        );
    }
}
