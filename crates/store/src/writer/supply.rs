//! Planning a supply change beside the writer, and applying it in pieces, each its own
//! transaction, with the bookings that wait decided between them (a national change moves
//! millions of doses: one transaction, or one turn of the writer to plan it, would make every
//! booking behind it wait for all of it).
//!
//! A preview, or an apply with no preview to reuse, takes a snapshot of the ledger in a turn of
//! the writer ([`Ledger::snapshot_for_planning`]: the capacity copied, the bookings shared) and
//! plans from it on a thread of its own, cutting the plan into pieces there too; the writer goes
//! on booking, and notes every booking it changes. When the plan is ready its job joins the
//! long writes' queue. An apply then holds it in one turn (the first piece): the plan's record
//! (with how many pieces it takes), planned deliveries and schedule are stored, every new place
//! of every move is held in the ledger while the old ones stay held ([`Ledger::hold_plan`]), and
//! the bookings changed since the snapshot are planned again on the writer
//! ([`Ledger::catch_up_plan`]: the few the change now displaces or must tell, the last booked
//! first) and written at once. An operator applies the plan they previewed (its id); what was
//! booked since is caught up, and the answer says whom that moved.
//!
//! Each later piece writes some changed bookings — in an order where a dose moves into a place
//! only once the doses leaving it have left ([`Plan::pieces`]), since storage checks capacity at
//! every commit — as the ledger has them (a booking its person cancelled or moved meanwhile is
//! skipped and its held places given back), their records and messages, then the messages of
//! people told without a move, and counts itself in the record. The change is answered after
//! its last piece. The messages' texts are formatted from the plan on a thread of their own, a
//! piece or two ahead: the transactions only write them (a person whose booking changed since
//! the plan is not told).
//!
//! An apply interrupted between pieces (a crash, a failed batch: the ledger is then rebuilt
//! from storage, the held places with it) stops there: its record says how many pieces
//! committed ([`SupplyChangeRecord::partial`]), the database holds each booking either as it
//! was or as planned, and planning the same change again moves only who is left.

use super::api::WriteError;
use super::api::{
    ApplySupply, Expect, Fault, MessageText, Notice, PlanSupply, SupplyNotify, SupplyOutcome,
    SupplyRefusal,
};
use super::ops::{Answer, Decided, Job, Ops, Previewed, Refuse, Reply, Task, Waiting, tell};
use super::prepared::{Piece, Prepared};
use crate::{AuditEntry, Change, RescheduleRecord, StoreError, SupplyChangeRecord};
use domain::booking::{Appointment, Booking};
use domain::ledger::Ledger;
use domain::ledger::reschedule::pieces::Share;
use domain::ledger::reschedule::{Neighbours, Plan, PlanError, SupplyChange};
use jiff::civil::Date;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError, channel, sync_channel};

type Output = Result<SupplyOutcome, SupplyRefusal>;
type TaskResult = Result<Box<dyn Answer>, (StoreError, Box<dyn Refuse>)>;

/// A supply change to preview: planned beside the writer, then kept for the apply.
pub(super) struct StartPreview {
    pub plan: PlanSupply,
    pub reply: Reply<Output>,
}

/// A supply change to apply, with its operator's audit line.
pub(super) struct StartSupply {
    pub apply: ApplySupply,
    pub audit: Option<AuditEntry>,
    pub reply: Reply<Output>,
}

/// What to do once a plan is made.
enum AfterPlan {
    Preview(StartPreview),
    Apply(StartSupply),
}

impl AfterPlan {
    fn what(&self) -> (&SupplyChange, Date, &Neighbours) {
        match self {
            AfterPlan::Preview(p) => (&p.plan.change, p.plan.today, &p.plan.neighbours),
            AfterPlan::Apply(a) => (&a.apply.change, a.apply.today, &a.apply.neighbours),
        }
    }

    fn reply(self) -> Reply<Output> {
        match self {
            AfterPlan::Preview(p) => p.reply,
            AfterPlan::Apply(a) => a.reply,
        }
    }
}

/// A plan made beside the writer, and the snapshot it was made from (given back to the
/// ledger: [`Ledger::recycle_snapshot`]).
type Planned = (Result<Prepared, PlanError>, Ledger);

/// A change whose plan is being made from a snapshot, on a thread of its own.
struct Planning {
    planner: Receiver<Planned>,
    planned: Option<Planned>,
    /// The snapshot's serial ([`Ledger::changed_since_snapshot`]).
    serial: u64,
    next: AfterPlan,
}

/// A change between two pieces.
struct Applying {
    plan: Arc<Plan>,
    /// Each changed booking as it was held (in the order of `plan.changed`); `None`: changed
    /// since the plan's snapshot, left to the catch-up.
    held: Vec<Option<Booking>>,
    /// What was booked or changed since the snapshot, planned and written in the first piece.
    caught_up: Arc<Plan>,
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

impl Refuse for StartPreview {
    fn refuse(self: Box<Self>, error: WriteError) {
        let _ = self.reply.send(Err(error));
    }
}

impl Task for StartPreview {
    fn run(self: Box<Self>, ops: &mut Ops<'_>, now_ms: i64) -> TaskResult {
        plan_beside(ops, AfterPlan::Preview(*self), now_ms)
    }
}

impl Refuse for StartSupply {
    fn refuse(self: Box<Self>, error: WriteError) {
        let _ = self.reply.send(Err(error));
    }
}

impl Task for StartSupply {
    fn run(self: Box<Self>, ops: &mut Ops<'_>, now_ms: i64) -> TaskResult {
        let apply = &self.apply;
        let previewed = ops.previewed.take().filter(|p| {
            p.change == apply.change
                && p.today == apply.today
                && p.neighbours == apply.neighbours
                && ops.ledger.snapshot_is_current(p.serial)
        });
        match previewed {
            Some(p) => hold(ops, *self, Ok(p.prepared), p.serial, now_ms),
            None => plan_beside(ops, AfterPlan::Apply(*self), now_ms),
        }
    }
}

/// Takes a snapshot of the ledger and starts planning from it on a thread of its own; the plan
/// comes back as a long write's job. Refused while another plan is still being made.
fn plan_beside(ops: &mut Ops<'_>, next: AfterPlan, now_ms: i64) -> TaskResult {
    let started = std::time::Instant::now();
    let (snapshot, serial) = match ops.ledger.snapshot_for_planning() {
        Ok(taken) => taken,
        Err(domain::ledger::PlannerBusy) => return refuse(ops, next, SupplyRefusal::Busy, now_ms),
    };
    tracing::info!(
        snapshot_ms = started.elapsed().as_millis() as u64,
        "a snapshot of the ledger taken to plan a supply change from"
    );
    let (change, today, neighbours) = next.what();
    let planner = match spawn_planner(
        snapshot,
        change.clone(),
        today,
        neighbours.clone(),
        ops.piece_cost,
    ) {
        Ok(planner) => planner,
        Err(error) => return Err((error, Box::new(Waiting(next.reply())))),
    };
    let job = Job {
        now_ms,
        cost: None,
        task: Box::new(Planning {
            planner,
            planned: None,
            serial,
            next,
        }),
    };
    Ok(Box::new(Queued(job)))
}

/// Plans `change` from `snapshot` on a thread of its own, and cuts the plan into pieces there.
fn spawn_planner(
    snapshot: Ledger,
    change: SupplyChange,
    today: Date,
    neighbours: Neighbours,
    piece_cost: u64,
) -> Result<Receiver<Planned>, StoreError> {
    let (send, planned) = channel();
    std::thread::Builder::new()
        .name("yeyak-supply-plan".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let plan = snapshot.plan(&change, today, &neighbours);
            let prepared = plan.map(|plan| Prepared::of(Arc::new(plan), piece_cost));
            tracing::info!(
                planned_ms = started.elapsed().as_millis() as u64,
                "supply change planned beside the writer"
            );
            let _ = send.send((prepared, snapshot));
        })
        .map_err(|e| StoreError::Database(format!("cannot start the planner's thread: {e}")))?;
    Ok(planned)
}

/// Refuses a change; an apply's audit line records why.
fn refuse(ops: &mut Ops<'_>, next: AfterPlan, refusal: SupplyRefusal, now_ms: i64) -> TaskResult {
    match next {
        AfterPlan::Preview(p) => Ok(Box::new(Decided {
            output: Err(refusal),
            reply: p.reply,
        })),
        AfterPlan::Apply(StartSupply { audit, reply, .. }) => {
            if let Err(error) = write_audit(ops, audit, refusal.code(), now_ms) {
                return Err((error, Box::new(Waiting(reply))));
            }
            Ok(Box::new(Decided {
                output: Err(refusal),
                reply,
            }))
        }
    }
}

fn write_audit(
    ops: &mut Ops<'_>,
    audit: Option<AuditEntry>,
    outcome: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let Some(mut entry) = audit else {
        return Ok(());
    };
    entry.outcome = outcome.to_string();
    ops.backend.apply(&Change::Audit { entry, now_ms })
}

/// A job to queue once the batch that made it commits.
struct Queued(Job);

impl Refuse for Queued {
    fn refuse(self: Box<Self>, error: WriteError) {
        self.0.task.refuse(error);
    }
}

impl Answer for Queued {
    fn committed(self: Box<Self>, then: &mut Vec<Job>) {
        then.push(self.0);
    }
}

impl Refuse for Planning {
    fn refuse(self: Box<Self>, error: WriteError) {
        let _ = self.next.reply().send(Err(error));
    }
}

impl Task for Planning {
    fn awaits_plan(&self) -> bool {
        true
    }

    fn ready(&mut self) -> bool {
        if self.planned.is_some() {
            return true;
        }
        match self.planner.try_recv() {
            Ok(planned) => {
                self.planned = Some(planned);
                true
            }
            Err(TryRecvError::Empty) => false,
            Err(TryRecvError::Disconnected) => true,
        }
    }

    fn run(self: Box<Self>, ops: &mut Ops<'_>, now_ms: i64) -> TaskResult {
        let Planning {
            planned,
            serial,
            next,
            ..
        } = *self;
        let Some((planned, snapshot)) = planned else {
            tracing::error!("the supply change's planner stopped without a plan (a bug)");
            return Ok(Box::new(Interrupted(next.reply())));
        };
        ops.ledger.recycle_snapshot(snapshot);
        match next {
            AfterPlan::Apply(start) => hold(ops, start, planned, serial, now_ms),
            AfterPlan::Preview(StartPreview { plan, reply }) => {
                let output = planned.map_err(SupplyRefusal::Invalid).map(|prepared| {
                    let outcome = SupplyOutcome {
                        change_id: None,
                        plan: Arc::clone(&prepared.plan),
                        caught_up: None,
                        messages: 0,
                    };
                    *ops.previewed = Some(Previewed {
                        change: plan.change,
                        today: plan.today,
                        neighbours: plan.neighbours,
                        serial,
                        prepared,
                    });
                    outcome
                });
                Ok(Box::new(Decided { output, reply }))
            }
        }
    }
}

/// The first piece of an apply: when the plan is the one expected, writes its record,
/// deliveries, schedule and audit line, holds its places in the ledger, and plans and writes
/// at once what was booked since its snapshot.
fn hold(
    ops: &mut Ops<'_>,
    start: StartSupply,
    planned: Result<Prepared, PlanError>,
    serial: u64,
    now_ms: i64,
) -> TaskResult {
    let Some(changed) = ops.ledger.changed_since_snapshot(serial) else {
        // The ledger was rebuilt, or another snapshot taken, while it was planned: plan again.
        return plan_beside(ops, AfterPlan::Apply(start), now_ms);
    };
    let StartSupply {
        apply,
        audit,
        reply,
    } = start;
    let decided = planned
        .map_err(SupplyRefusal::Invalid)
        .and_then(|prepared| expected(ops, prepared, &apply, serial));
    let outcome = decided.as_ref().err().map_or("ok", SupplyRefusal::code);
    if let Err(error) = write_audit(ops, audit, outcome, now_ms) {
        return Err((error, Box::new(Waiting(reply))));
    }
    let prepared = match decided {
        Ok(prepared) => prepared,
        Err(refusal) => {
            return Ok(Box::new(Decided {
                output: Err(refusal),
                reply,
            }));
        }
    };
    ops.ledger.end_snapshot_journal();
    match write_first_piece(ops, apply, prepared, changed, now_ms) {
        Ok(applying) => Ok(Box::new(Written {
            applying: Box::new(applying),
            reply,
            now_ms,
        })),
        Err(error) => Err((error, Box::new(Waiting(reply)))),
    }
}

/// The plan, if it is the one the operator agreed to. A plan refused is kept as the preview,
/// so that agreeing to it (its id) next applies it without planning again.
fn expected(
    ops: &mut Ops<'_>,
    prepared: Prepared,
    apply: &ApplySupply,
    serial: u64,
) -> Result<Prepared, SupplyRefusal> {
    let refusal = match &apply.expect {
        Expect::NoMoves if !prepared.plan.is_empty() => {
            SupplyRefusal::PlanRequired(Arc::clone(&prepared.plan))
        }
        Expect::Plan(id) if *id != prepared.id => {
            SupplyRefusal::PlanChanged(Arc::clone(&prepared.plan))
        }
        _ => return Ok(prepared),
    };
    *ops.previewed = Some(Previewed {
        change: apply.change.clone(),
        today: apply.today,
        neighbours: apply.neighbours.clone(),
        serial,
        prepared,
    });
    Err(refusal)
}

/// Holds the plan, catches up on the bookings `changed` since its snapshot, and writes the
/// first piece: the record, deliveries, schedule, and the catch-up's bookings and messages.
fn write_first_piece(
    ops: &mut Ops<'_>,
    apply: ApplySupply,
    prepared: Prepared,
    changed: Vec<domain::booking::BookingId>,
    now_ms: i64,
) -> Result<Applying, StoreError> {
    let ApplySupply {
        change,
        today,
        neighbours,
        detail,
        notify,
        ..
    } = apply;
    let Prepared {
        plan,
        id,
        shares,
        pieces,
    } = prepared;
    let (undo, held) = ops.ledger.hold_plan(&plan);
    ops.undo.push(undo);
    let caught_up = ops
        .ledger
        .catch_up_plan(&change, today, &neighbours, &plan, &held, changed);
    if caught_up.over_capacity_after > 0 {
        tracing::error!(
            cells = caught_up.over_capacity_after,
            "a supply change's catch-up leaves cells over capacity (a bug)"
        );
    }
    ops.undo.push(ops.ledger.apply_plan(&caught_up));
    let caught_up = Arc::new(caught_up);
    let both = |count: fn(&Plan) -> usize| (count(&plan) + count(&caught_up)) as u64;
    let change_id = ops.backend.insert_supply_change(&SupplyChangeRecord {
        id: 0,
        reason: plan.reason,
        plan_id: id,
        detail,
        people_moved: both(Plan::people_moved),
        doses_moved: both(|p| p.moves.len()),
        unplaced: both(|p| p.unplaced.len()),
        informed: both(|p| p.informed.len()),
        applied_ms: now_ms,
        pieces: pieces.len() as u32 + 1,
        pieces_done: 1,
    })?;
    write_supply(ops, &plan, now_ms)?;
    let messages = write_catch_up(ops, &caught_up, change_id, &notify, now_ms)?;
    if !caught_up.changed.is_empty() || !caught_up.informed.is_empty() {
        tracing::info!(
            change = change_id,
            moved = caught_up.people_moved(),
            unplaced = caught_up.unplaced.len(),
            told = caught_up.informed.len(),
            "bookings made while the supply change was planned were caught up"
        );
    }
    let texts = format_texts(
        Arc::clone(&plan),
        Arc::clone(&shares),
        Arc::clone(&pieces),
        notify,
    )?;
    Ok(Applying {
        plan,
        held,
        caught_up,
        shares,
        pieces,
        next: 0,
        texts,
        done: 1,
        change_id,
        messages,
        rebuilds: ops.rebuilds,
    })
}

/// Writes the catch-up (already applied to the ledger) whole: its bookings, their records and
/// messages, and the messages of people told. Returns the messages written.
fn write_catch_up(
    ops: &mut Ops<'_>,
    caught_up: &Plan,
    change_id: u64,
    notify: &SupplyNotify,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let shares = caught_up.shares();
    let mut messages = 0;
    let changed = Piece::Changed((0..caught_up.changed.len()).collect());
    let texts = piece_texts(caught_up, &shares, &changed, notify);
    for (i, text) in texts.into_iter().enumerate() {
        messages += write_booking(ops, caught_up, &shares[i], i, change_id, text, now_ms)?;
    }
    let informed = Piece::Informed(0..caught_up.informed.len());
    let texts = piece_texts(caught_up, &shares, &informed, notify);
    for (booking, text) in caught_up.informed.iter().zip(texts) {
        messages += tell(ops, booking.person, text, now_ms)?;
    }
    Ok(messages)
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
                caught_up: Some(applying.caught_up),
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
    // Changed between the snapshot and the hold: the catch-up saw to it.
    let Some(held) = &applying.held[i] else {
        return Ok(0);
    };
    if !ops.ledger.settle(held, &plan.changed[i]) {
        return Ok(0);
    }
    let share = &applying.shares[i];
    write_booking(ops, plan, share, i, applying.change_id, text, now_ms)
}

/// Writes booking `i` of `plan` as it is planned, the records of its moved and unplaced doses
/// and its person's message.
fn write_booking(
    ops: &mut Ops<'_>,
    plan: &Plan,
    share: &Share,
    i: usize,
    change_id: u64,
    text: MessageText,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let after = &plan.changed[i];
    ops.backend.apply(&Change::PutBooking {
        booking: *after,
        now_ms,
    })?;
    let record = |dose: u8, from: Appointment, to: Option<Appointment>| {
        Change::InsertReschedule(RescheduleRecord {
            change_id,
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
