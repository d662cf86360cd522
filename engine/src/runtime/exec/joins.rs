//! Converging gateways: parallel, exclusive and inclusive joins (BPMN 2.0.2 §13.3).

use super::*;

/// Up to this many tokens in the Request, a parallel join scans them instead of indexing them.
const SCAN_TOKENS: usize = 64;

impl Exec<'_> {
    pub(super) fn arrive_at_join(&mut self, t: TokenId, g: ElementIdx, via: Option<FlowIdx>, inclusive: bool) {
        let Some(via) = via else {
            // Started implicitly (no incoming token): nothing to join with.
            self.activated(t, g);
            self.leave(t);
            return;
        };
        if let Some(tok) = self.tok_mut(t) {
            tok.state = TokenState::Joining { via };
        }
        let Some(scope) = self.tok(t).map(|x| x.scope) else { return };
        if inclusive {
            self.try_or_join(scope, g);
        } else {
            self.try_and_join(scope, g, t, via);
        }
    }

    /// The waiting tokens of the parallel join `g` in `scope`: from this step's index, else
    /// found once among the Request's tokens (they include `arrived`).
    fn join_wait(&mut self, scope: ScopeId, g: ElementIdx, arrived: TokenId, via: FlowIdx) -> &mut JoinWait {
        let p = self.p;
        let tokens = &self.i.tokens;
        let mut known = true;
        let at = match self.joins.iter().position(|(k, _)| *k == (scope, g)) {
            Some(at) => at,
            None => {
                known = false;
                let incoming = &p.element(g).incoming;
                let flow_pos: HashMap<FlowIdx, usize> = incoming.iter().enumerate().map(|(k, &f)| (f, k)).collect();
                let mut waiting = vec![BTreeSet::new(); incoming.len()];
                for x in tokens {
                    if x.scope == scope
                        && x.element == g
                        && let TokenState::Joining { via } = x.state
                        && let Some(&k) = flow_pos.get(&via)
                    {
                        waiting[k].insert(x.id);
                    }
                }
                let filled = waiting.iter().filter(|w| !w.is_empty()).count();
                self.joins.push(((scope, g), JoinWait { flow_pos, waiting, filled }));
                self.joins.len() - 1
            }
        };
        let wait = &mut self.joins[at].1;
        if known && let Some(&k) = wait.flow_pos.get(&via) {
            if wait.waiting[k].is_empty() {
                wait.filled += 1;
            }
            wait.waiting[k].insert(arrived);
        }
        wait
    }

    /// The first joining token at `g` in `scope` that came along `f`.
    pub(super) fn joining(&self, scope: ScopeId, g: ElementIdx, f: FlowIdx) -> Option<TokenId> {
        self.i
            .tokens
            .iter()
            .find(|x| x.scope == scope && x.element == g && matches!(x.state, TokenState::Joining { via } if via == f))
            .map(|x| x.id)
    }

    /// Fires the parallel join `g` in `scope` when every incoming flow has a token waiting,
    /// consuming the first (lowest id) of each; `arrived` just came along `via`.
    pub(super) fn try_and_join(&mut self, scope: ScopeId, g: ElementIdx, arrived: TokenId, via: FlowIdx) -> bool {
        let n = self.p.element(g).incoming.len();
        // A Request with few tokens is cheaper to scan than to index (the common case: a join of
        // two or three branches); once this step indexed the join, the index stays the truth.
        if self.i.tokens.len() <= SCAN_TOKENS && !self.joins.iter().any(|(k, _)| *k == (scope, g)) {
            return self.try_and_join_by_scan(scope, g);
        }
        if self.join_wait(scope, g, arrived, via).filled < n {
            return false;
        }
        // Every flow has an entry: drop the stale ones (tokens that left another way).
        let Some(at) = self.joins.iter().position(|(k, _)| *k == (scope, g)) else { return false };
        let (_, mut wait) = self.joins.swap_remove(at);
        let incoming = &self.p.element(g).incoming;
        let mut chosen = Vec::with_capacity(n);
        for (k, &f) in incoming.iter().enumerate() {
            let w = &mut wait.waiting[k];
            while let Some(&t) = w.first() {
                let live = self.tok(t).is_some_and(|x| {
                    x.scope == scope && x.element == g && matches!(x.state, TokenState::Joining { via } if via == f)
                });
                if live {
                    break;
                }
                w.remove(&t);
            }
            match w.first() {
                Some(&t) => chosen.push(t),
                None => wait.filled -= 1,
            }
        }
        if chosen.len() < n {
            self.joins.push(((scope, g), wait));
            return false;
        }
        for (k, t) in chosen.iter().enumerate() {
            let w = &mut wait.waiting[k];
            w.remove(t);
            if w.is_empty() {
                wait.filled -= 1;
            }
        }
        self.joins.push(((scope, g), wait));
        self.fire_join(g, chosen);
        true
    }

    /// [`Exec::try_and_join`] for a Request with few tokens: one scan per incoming flow.
    fn try_and_join_by_scan(&mut self, scope: ScopeId, g: ElementIdx) -> bool {
        let p = self.p;
        let incoming = &p.element(g).incoming;
        let mut chosen = Vec::with_capacity(incoming.len());
        for &f in incoming {
            match self.joining(scope, g, f) {
                Some(t) => chosen.push(t),
                None => return false,
            }
        }
        self.fire_join(g, chosen);
        true
    }

    /// BPMN 2.0.2 §13.3.4: fires when some incoming flow has a token and no flow without one can
    /// still get one from a token elsewhere in the scope.
    pub(super) fn try_or_join(&mut self, scope: ScopeId, g: ElementIdx) -> bool {
        let p = self.p;
        let incoming = &p.element(g).incoming;
        // A token queued to arrive here is as good as on its incoming flow: wait for it.
        if self
            .i
            .tokens
            .iter()
            .any(|x| x.scope == scope && x.element == g && matches!(x.state, TokenState::Ready { .. }))
        {
            return false;
        }
        let mut chosen = Vec::with_capacity(incoming.len());
        for (k, &f) in incoming.iter().enumerate() {
            match self.joining(scope, g, f) {
                Some(t) => chosen.push(t),
                None => {
                    let Some(reach) = p.or_join_reach(g, k) else { continue };
                    let blocked = self.i.tokens.iter().any(|x| {
                        x.scope == scope
                            && reach.contains(x.element.index())
                            && !(x.element == g && matches!(x.state, TokenState::Joining { .. }))
                    });
                    if blocked {
                        return false;
                    }
                }
            }
        }
        if chosen.is_empty() {
            return false;
        }
        self.fire_join(g, chosen);
        true
    }

    pub(super) fn fire_join(&mut self, g: ElementIdx, chosen: Vec<TokenId>) {
        let Some((&survivor, rest)) = chosen.split_first() else { return };
        // The survivor keeps the scope alive, so this never completes it.
        self.consume_all(rest);
        self.activated(survivor, g);
        self.leave(survivor);
    }

    pub(super) fn check_or_joins(&mut self) -> bool {
        let waiting: Vec<(ScopeId, ElementIdx)> = self
            .i
            .tokens
            .iter()
            .filter(|x| {
                matches!(x.state, TokenState::Joining { .. })
                    && matches!(self.p.element(x.element).kind, Kind::Gateway(GatewayKind::Inclusive))
            })
            .map(|x| (x.scope, x.element))
            .collect();
        let mut fired = false;
        for (scope, g) in waiting {
            // An earlier firing this round may have consumed these tokens already.
            if self
                .i
                .tokens
                .iter()
                .any(|x| x.scope == scope && x.element == g && matches!(x.state, TokenState::Joining { .. }))
            {
                fired |= self.try_or_join(scope, g);
            }
        }
        fired
    }
}
