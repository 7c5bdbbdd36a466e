//! `forward`: openNetVM's `simple_forward` for Sluice. Every packet goes to `--dest`, or to
//! the next step of its chain when no destination is given. It touches no packet data.

#![warn(missing_docs)]

use sluice_nf::{Action, Batch, Context, NetworkFunction, Packet};

/// Options of the forwarder.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Opts {
    /// Service id (1-64) to send every packet to [default: the next step of its chain]
    ///
    /// Without it the packet follows its chain (action Next); with it the packet goes to an
    /// instance of that service chosen by the packet's flow hash (action ToService).
    #[arg(short = 'd', long, value_name = "SERVICE_ID",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub dest: Option<u16>,
}

/// The forwarder NF.
#[derive(Debug)]
pub struct Forward {
    action: Action,
}

/// Build the NF from its options.
pub fn build(opts: &Opts) -> anyhow::Result<Forward> {
    Ok(Forward {
        action: action_for(opts.dest),
    })
}

/// The action for every packet: `ToService(dest)` or `Next`.
pub fn action_for(dest: Option<u16>) -> Action {
    dest.map_or(Action::Next, Action::ToService)
}

impl Forward {
    /// The action this NF gives every packet.
    pub fn action(&self) -> Action {
        self.action
    }
}

impl NetworkFunction for Forward {
    #[inline]
    fn handle(&mut self, _pkt: &mut Packet<'_>, _ctx: &Context) -> Action {
        self.action
    }

    #[inline]
    fn handle_batch(&mut self, batch: &mut Batch<'_>, _ctx: &Context) {
        batch.set_all(self.action);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct W {
        #[command(flatten)]
        o: Opts,
    }

    #[test]
    fn actions() {
        let o = W::try_parse_from(["forward"]).unwrap().o;
        assert_eq!(build(&o).unwrap().action(), Action::Next);
        let o = W::try_parse_from(["forward", "--dest", "7"]).unwrap().o;
        assert_eq!(build(&o).unwrap().action(), Action::ToService(7));
        let o = W::try_parse_from(["forward", "-d", "64"]).unwrap().o;
        assert_eq!(build(&o).unwrap().action(), Action::ToService(64));
        assert!(W::try_parse_from(["forward", "-d", "65"]).is_err());
        assert!(W::try_parse_from(["forward", "-d", "x"]).is_err());
    }
}
