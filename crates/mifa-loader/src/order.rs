//! Which samples an epoch visits, in what order, on which rank: pure functions of
//! `(seed, epoch)`, so the order never depends on threads or on what ran before.

use crate::split::SplitMix64;

/// Mixes two words into a seed (one SplitMix64 step over their combination).
pub fn mix(a: u64, b: u64) -> u64 {
    SplitMix64::new(a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)).next_u64()
}

/// The order in which an epoch visits samples `0..n`: a Fisher–Yates shuffle seeded by
/// `(seed, epoch)`, or `0..n` when not shuffling. Every sample appears exactly once.
pub fn epoch_order(n: u64, seed: u64, epoch: u64, shuffle: bool) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    if shuffle {
        SplitMix64::new(mix(seed, epoch)).shuffle(&mut v);
    }
    v
}

/// The part of `order` that `rank` of `world` processes, as PyTorch's `DistributedSampler`
/// does: the order is padded by repeating its start (or cut, with `drop_last`) to a multiple
/// of `world`, and rank `r` takes positions `r, r + world, …`. Shards are disjoint (apart from
/// the padding) and equally long.
pub fn shard(order: &[u64], rank: usize, world: usize, drop_last: bool) -> Vec<u64> {
    assert!(world > 0 && rank < world, "rank {rank} of world {world}");
    let n = order.len();
    if n == 0 {
        return Vec::new();
    }
    let total = if drop_last {
        n / world * world
    } else {
        n.div_ceil(world) * world
    };
    (rank..total).step_by(world).map(|i| order[i % n]).collect()
}

/// Top-left corners along one axis of length `len` for windows of `patch` at `stride`,
/// covering every pixel (the last window is moved back to end at `len`).
pub fn grid_positions(len: u64, patch: u64, stride: u64) -> Vec<u64> {
    if len <= patch {
        return vec![0];
    }
    let stride = stride.max(1);
    let mut v: Vec<u64> = (0..len - patch).step_by(stride as usize).collect();
    if v.last() != Some(&(len - patch)) {
        v.push(len - patch);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn an_epoch_visits_every_sample_once(n in 0u64..2000, seed: u64, epoch in 0u64..50) {
            let mut o = epoch_order(n, seed, epoch, true);
            prop_assert_eq!(o.clone(), epoch_order(n, seed, epoch, true));
            o.sort_unstable();
            prop_assert_eq!(o, (0..n).collect::<Vec<_>>());
        }

        #[test]
        fn shards_are_disjoint_equal_and_cover(n in 1u64..500, world in 1usize..9, seed: u64) {
            let o = epoch_order(n, seed, 3, true);
            let shards: Vec<Vec<u64>> = (0..world).map(|r| shard(&o, r, world, false)).collect();
            let len = shards[0].len();
            prop_assert!(shards.iter().all(|s| s.len() == len));
            prop_assert_eq!(len, (n as usize).div_ceil(world));
            let mut all: Vec<u64> = shards.concat();
            all.sort_unstable();
            all.dedup();
            prop_assert_eq!(all.len() as u64, n);
            // Without padding (drop_last) no sample is served twice.
            let dropped: Vec<u64> = (0..world).flat_map(|r| shard(&o, r, world, true)).collect();
            let mut d = dropped.clone();
            d.sort_unstable();
            d.dedup();
            prop_assert_eq!(d.len(), dropped.len());
            prop_assert_eq!(dropped.len(), n as usize / world * world);
        }

        #[test]
        fn grid_covers_every_pixel(len in 1u64..3000, patch in 1u64..600, stride in 1u64..700) {
            let p = grid_positions(len, patch, stride.min(patch));
            let mut covered = 0u64;
            for &s in &p {
                prop_assert!(s + patch.min(len) <= len);
                prop_assert!(s <= covered, "gap before {}", s);
                covered = covered.max(s + patch.min(len));
            }
            prop_assert_eq!(covered, len);
        }
    }

    #[test]
    fn epochs_differ_and_seeds_differ() {
        assert_ne!(epoch_order(100, 1, 0, true), epoch_order(100, 1, 1, true));
        assert_ne!(epoch_order(100, 1, 0, true), epoch_order(100, 2, 0, true));
        assert_eq!(epoch_order(5, 1, 0, false), vec![0, 1, 2, 3, 4]);
    }
}
