//! Applying a supply change in pieces, each its own transaction, with the bookings that wait
//! decided between them (a national change moves millions of doses: one transaction would make
//! every booking behind it wait for all of it).
//!
//! The first piece plans the change (or takes the plan previewed, when the ledger has not
//! changed since), stores its record (with how many pieces it takes), planned deliveries and
//! schedule, and holds in the ledger every new place of every move while the old ones stay
//! held ([`Ledger::hold_plan`]): a booking decided between pieces takes no place storage still
//! counts as used nor one a move still needs. Each later piece writes some changed bookings —
//! in an order where a dose moves into a place only once the doses leaving it have left
//! ([`Plan::pieces`]), since storage checks capacity at every commit — as the ledger has them
//! (a booking its person cancelled or moved meanwhile is skipped and its held places given
//! back), their records and messages, then the messages of people told without a move, and
//! counts itself in the record. The change is answered after its last piece. The messages'
//! texts are formatted from the plan on a thread of their own, a piece or two ahead: the
//! transactions only write them (a person whose booking changed since the plan is not told).
//!
//! An apply interrupted between pieces (a crash, a failed batch: the ledger is then rebuilt
//! from storage, the held places with it) stops there: its record says how many pieces
//! committed ([`SupplyChangeRecord::partial`]), the database holds each booking either as it
//! was or as planned, and planning the same change again moves only who is left.

use super::api::WriteError;
use super::api::{
    ApplySupply, Expect, Fault, MessageText, Notice, SupplyNotify, SupplyOutcome, SupplyRefusal,
};
use super::ops::{Answer, Decided, Job, Ops, Refuse, Reply, Task, Waiting, tell};
use super::prepared::{Piece, Prepared};
use crate::{AuditEntry, Change, RescheduleRecord, StoreError, SupplyChangeRecord};
use domain::booking::{Appointment, Booking};
use domain::ledger::reschedule::Plan;
use domain::ledger::reschedule::pieces::Share;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

type Output = Result<SupplyOutcome, SupplyRefusal>;

/// A supply change to apply, with its operator's audit line.
pub(super) struct StartSupply {
    pub apply: ApplySupply,
    pub audit: Option<AuditEntry>,
    pub reply: Reply<Output>,
}

/// A supply change between two pieces.
struct Applying {
    plan: Arc<Plan>,
    /// Each changed booking as it was when the plan was made (in the order of `plan.changed`).
    before: Vec<Booking>,
    shares: Arc<[Share]>,
    /// The pieces after the first, in order; `next` is the next one to write.
    pieces: Arc<[Piece]>,
    next: usize,
    /// Each piece's messages, formatted off the writer ([`format_texts`]).
    texts: Receiver<Vec<MessageText>>,
    /// Pieces written so far (the first one included).
    done: u32,
    change_id: u64,
    messages: u64,
    /// The ledger's rebuild count when its places were held.
    rebuilds: u64,
}

impl Refuse for StartSupply {
    fn refuse(self: Box<Self>, error: WriteError) {
        let _ = self.reply.send(Err(error));
    }
}

impl Task for StartSupply {
    fn run(
        self: Box<Self>,
        ops: &mut Ops<'_>,
        now_ms: i64,
    ) -> Result<Box<dyn Answer>, (StoreError, Box<dyn Refuse>)> {
        let StartSupply {
            apply,
            audit,
            reply,
        } = *self;
        match start(ops, apply, audit, now_ms) {
            Ok(Err(refusal)) => Ok(Box::new(Decided {
                output: Err(refusal),
                reply,
            })),
            Ok(Ok(applying)) => Ok(Box::new(Written {
                applying: Box::new(applying),
                reply,
                now_ms,
            })),
            Err(error) => Err((error, Box::new(Waiting(reply)))),
        }
    }
}

/// Plans the change (or reuses the preview), and when it is the one expected writes its first
/// piece: the record, deliveries, schedule, audit line, and the holds in the ledger.
fn start(
    ops: &mut Ops<'_>,
    apply: ApplySupply,
    audit: Option<AuditEntry>,
    now_ms: i64,
) -> Result<Result<Applying, SupplyRefusal>, StoreError> {
    let ApplySupply {
        change,
        today,
        neighbours,
        expect,
        detail,
        notify,
    } = apply;
    let previewed = ops.previewed.take().filter(|p| {
        p.change == change
            && p.today == today
            && p.neighbours == neighbours
            && p.changes == ops.ledger.changes()
    });
    let prepared = match previewed {
        Some(previewed) => Ok(previewed.prepared),
        None => ops
            .ledger
            .plan(&change, today, &neighbours)
            .map(|plan| Prepared::of(Arc::new(plan), ops.piece_cost)),
    };
    let decided = prepared
        .map_err(SupplyRefusal::Invalid)
        .and_then(|prepared| expected(prepared, &expect));
    if let Some(mut entry) = audit {
        entry.outcome = decided
            .as_ref()
            .err()
            .map_or("ok", SupplyRefusal::code)
            .to_string();
        ops.backend.apply(&Change::Audit { entry, now_ms })?;
    }
    let Prepared {
        plan,
        id,
        shares,
        pieces,
    } = match decided {
        Ok(prepared) => prepared,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let change_id = ops.backend.insert_supply_change(&SupplyChangeRecord {
        id: 0,
        reason: plan.reason,
        plan_id: id,
        detail,
        people_moved: plan.people_moved() as u64,
        doses_moved: plan.moves.len() as u64,
        unplaced: plan.unplaced.len() as u64,
        informed: plan.informed.len() as u64,
        applied_ms: now_ms,
        pieces: pieces.len() as u32 + 1,
        pieces_done: 1,
    })?;
    write_supply(ops, &plan, now_ms)?;
    let (undo, before) = ops.ledger.hold_plan(&plan);
    ops.undo.push(undo);
    let texts = format_texts(
        Arc::clone(&plan),
        Arc::clone(&shares),
        Arc::clone(&pieces),
        notify,
    )?;
    Ok(Ok(Applying {
        plan,
        before,
        shares,
        pieces,
        next: 0,
        texts,
        done: 1,
        change_id,
        messages: 0,
        rebuilds: ops.rebuilds,
    }))
}

/// The plan, if it is the one the operator agreed to.
fn expected(prepared: Prepared, expect: &Expect) -> Result<Prepared, SupplyRefusal> {
    match expect {
        Expect::NoMoves if !prepared.plan.is_empty() => {
            Err(SupplyRefusal::PlanRequired(prepared.plan))
        }
        Expect::Plan(id) if *id != prepared.id => Err(SupplyRefusal::PlanChanged(prepared.plan)),
        _ => Ok(prepared),
    }
}

/// Writes a plan's planned deliveries and, for an interval change, the schedules.
fn write_supply(ops: &mut Ops<'_>, plan: &Plan, now_ms: i64) -> Result<(), StoreError> {
    for edit in &plan.supply {
        let delivery = crate::Delivery {
            clinic: edit.clinic,
            day: edit.day,
            product: edit.product,
            doses: edit.after.max(0) as u32,
        };
        ops.backend
            .apply(&Change::PutDelivery { delivery, now_ms })?;
    }
    if let Some((product, schedule)) = plan.schedule {
        let mut schedules = ops.ledger.schedules();
        schedules.set(product, schedule);
        ops.backend.apply(&Change::PutSetting {
            key: crate::SCHEDULES_SETTING.into(),
            value: schedules.to_string(),
        })?;
    }
    Ok(())
}

/// A piece written, waiting for its commit to queue the next one or to answer.
struct Written {
    applying: Box<Applying>,
    reply: Reply<Output>,
    now_ms: i64,
}

impl Refuse for Written {
    fn refuse(self: Box<Self>, error: WriteError) {
        let _ = self.reply.send(Err(error));
    }
}

impl Answer for Written {
    fn committed(self: Box<Self>, then: &mut Vec<Job>) {
        let Written {
            applying,
            reply,
            now_ms,
        } = *self;
        if applying.next == applying.pieces.len() {
            let _ = reply.send(Ok(Ok(SupplyOutcome {
                change_id: Some(applying.change_id),
                plan: applying.plan,
                messages: applying.messages,
            })));
            return;
        }
        then.push(Job {
            now_ms,
            cost: None,
            task: Box::new(NextPiece { applying, reply }),
        });
    }
}

/// The next piece of a change, queued behind the requests that came while the last one ran.
struct NextPiece {
    applying: Box<Applying>,
    reply: Reply<Output>,
}

impl Refuse for NextPiece {
    fn refuse(self: Box<Self>, error: WriteError) {
        let _ = self.reply.send(Err(error));
    }
}

impl Task for NextPiece {
    fn run(
        self: Box<Self>,
        ops: &mut Ops<'_>,
        now_ms: i64,
    ) -> Result<Box<dyn Answer>, (StoreError, Box<dyn Refuse>)> {
        let NextPiece {
            mut applying,
            reply,
        } = *self;
        if ops.rebuilds != applying.rebuilds {
            // The ledger was rebuilt from storage (a batch failed between pieces): the places
            // held for the rest are gone, so the rest must be planned again.
            tracing::warn!(
                change = applying.change_id,
                done = applying.done,
                left = applying.pieces.len() - applying.next,
                "supply change interrupted between pieces; the rest must be planned again"
            );
            return Ok(Box::new(Interrupted(reply)));
        }
        match write_piece(ops, &mut applying, now_ms) {
            Ok(()) => Ok(Box::new(Written {
                applying,
                reply,
                now_ms,
            })),
            Err(error) => Err((error, Box::new(Waiting(reply)))),
        }
    }
}

/// A change that stopped between pieces: answered as not (wholly) written.
struct Interrupted(Reply<Output>);

impl Refuse for Interrupted {
    fn refuse(self: Box<Self>, error: WriteError) {
        let _ = self.0.send(Err(error));
    }
}

impl Answer for Interrupted {
    fn committed(self: Box<Self>, _then: &mut Vec<Job>) {
        let _ = self
            .0
            .send(Err(WriteError::Unavailable(Fault::LedgerStale)));
    }
}

/// Formats each piece's messages on a thread of its own, in order, at most two pieces ahead
/// of the writer: the texts come from the plan, and the writer's transaction only writes them.
fn format_texts(
    plan: Arc<Plan>,
    shares: Arc<[Share]>,
    pieces: Arc<[Piece]>,
    notify: SupplyNotify,
) -> Result<Receiver<Vec<MessageText>>, StoreError> {
    let (send, texts) = sync_channel(2);
    std::thread::Builder::new()
        .name("yeyak-supply-texts".into())
        .spawn(move || {
            for piece in pieces.iter() {
                // The apply stopped (its receiver is gone): nothing more to format.
                if send
                    .send(piece_texts(&plan, &shares, piece, &notify))
                    .is_err()
                {
                    return;
                }
            }
        })
        .map_err(|e| StoreError::Database(format!("cannot start the texts' thread: {e}")))?;
    Ok(texts)
}

/// One message per item of a piece, as the plan has it.
fn piece_texts(
    plan: &Plan,
    shares: &[Share],
    piece: &Piece,
    notify: &SupplyNotify,
) -> Vec<MessageText> {
    match piece {
        Piece::Changed(steps) => steps
            .iter()
            .map(|&i| {
                let share = &shares[i];
                notify(&Notice {
                    reason: plan.reason,
                    booking: &plan.changed[i],
                    moves: &plan.moves[share.moves.clone()],
                    unplaced: &plan.unplaced[share.unplaced.clone()],
                })
            })
            .collect(),
        Piece::Informed(range) => plan.informed[range.clone()]
            .iter()
            .map(|booking| {
                notify(&Notice {
                    reason: plan.reason,
                    booking,
                    moves: &[],
                    unplaced: &[],
                })
            })
            .collect(),
    }
}

/// Writes the next piece and counts it in the change's record.
fn write_piece(ops: &mut Ops<'_>, applying: &mut Applying, now_ms: i64) -> Result<(), StoreError> {
    let texts = applying.texts.recv().map_err(|_| {
        StoreError::Database("the supply change's texts stopped coming (a bug)".into())
    })?;
    let pieces = Arc::clone(&applying.pieces);
    match pieces.get(applying.next) {
        Some(Piece::Changed(steps)) => {
            for (&i, text) in steps.iter().zip(texts) {
                applying.messages += write_changed(ops, applying, i, text, now_ms)?;
            }
        }
        Some(Piece::Informed(range)) => {
            let plan = Arc::clone(&applying.plan);
            for (booking, text) in plan.informed[range.clone()].iter().zip(texts) {
                applying.messages += write_informed(ops, booking, text, now_ms)?;
            }
        }
        None => {}
    }
    applying.next += 1;
    applying.done += 1;
    ops.backend.apply(&Change::SupplyProgress {
        change_id: applying.change_id,
        pieces_done: applying.done,
    })
}

/// Writes one changed booking as planned, its records and its message, when the ledger still
/// holds it as it was planned from; otherwise gives back what was held for it.
fn write_changed(
    ops: &mut Ops<'_>,
    applying: &Applying,
    i: usize,
    text: MessageText,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let plan = &applying.plan;
    let after = &plan.changed[i];
    if !ops.ledger.settle(&applying.before[i], after) {
        return Ok(0);
    }
    ops.backend.apply(&Change::PutBooking {
        booking: *after,
        now_ms,
    })?;
    let share = &applying.shares[i];
    let record = |dose: u8, from: Appointment, to: Option<Appointment>| {
        Change::InsertReschedule(RescheduleRecord {
            change_id: applying.change_id,
            booking: after.id,
            person: after.person,
            dose,
            reason: plan.reason,
            from,
            to,
            accepted_ms: None,
        })
    };
    for m in &plan.moves[share.moves.clone()] {
        ops.backend.apply(&record(m.dose, m.from, Some(m.to)))?;
    }
    for u in &plan.unplaced[share.unplaced.clone()] {
        ops.backend.apply(&record(u.dose, u.from, None))?;
    }
    tell(ops, after.person, text, now_ms)
}

/// Tells a person whose booking stays of the change, if it is still as planned (its text says
/// what it holds).
fn write_informed(
    ops: &mut Ops<'_>,
    booking: &Booking,
    text: MessageText,
    now_ms: i64,
) -> Result<u64, StoreError> {
    if ops.ledger.booking(booking.id) != Some(booking) {
        return Ok(0);
    }
    tell(ops, booking.person, text, now_ms)
}
