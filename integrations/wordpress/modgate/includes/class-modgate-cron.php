<?php
/**
 * Modgate_Cron - the WP-Cron jobs: every minute, modgate's events feed
 * (decisions of modgate's moderators reach WordPress), the recheck of
 * comments saved while modgate was unreachable, and lessons not yet sent.
 *
 * @package modgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Hooks: modgate_cron (every minute: feed, recheck, lessons) and
 * modgate_recheck (a single event 20 minutes after modgate failed, so the
 * recheck also happens where the minute job does not run). The feed's
 * cursor is the option modgate_events_cursor.
 */
final class Modgate_Cron {

	const HOOK          = 'modgate_cron';
	const RECHECK_HOOK  = 'modgate_recheck';
	const SCHEDULE      = 'modgate_minute';
	const CURSOR_OPTION = 'modgate_events_cursor';

	/** Seconds until a recheck after modgate failed (Akismet waits the same 20 minutes). */
	const RECHECK_DELAY = 20 * MINUTE_IN_SECONDS;

	/**
	 * Feed pages read per run, 100 events each: a backlog drains over a few
	 * runs instead of one request running long.
	 */
	const MAX_PAGES = 10;

	/** Comments rechecked per run; the rest wait for the next. */
	const RECHECK_BATCH = 50;

	/**
	 * A comment modgate could not be asked about for this long is left to
	 * the moderator (its e-mail goes out): the reader has long gone, and a
	 * decision this late helps nobody (Akismet gives up after 15 days).
	 */
	const GIVE_UP_AFTER = 15 * DAY_IN_SECONDS;

	/** Registers the hooks. */
	public static function init(): void {
		add_filter( 'cron_schedules', array( __CLASS__, 'schedules' ) );
		add_action( self::HOOK, array( __CLASS__, 'run' ) );
		add_action( self::RECHECK_HOOK, array( __CLASS__, 'recheck' ) );
	}

	/**
	 * cron_schedules: a one-minute schedule (the feed should bring a
	 * moderator's decision within a minute or so).
	 *
	 * @param array $s The schedules.
	 */
	public static function schedules( $s ) {
		$s[ self::SCHEDULE ] = array(
			'interval' => MINUTE_IN_SECONDS,
			'display'  => __( 'Every minute (modgate)', 'modgate' ),
		);
		return $s;
	}

	/** Activation: schedule the minute job. */
	public static function activate(): void {
		if ( ! wp_next_scheduled( self::HOOK ) ) {
			wp_schedule_event( time(), self::SCHEDULE, self::HOOK );
		}
	}

	/** Deactivation: unschedule both jobs. */
	public static function deactivate(): void {
		wp_clear_scheduled_hook( self::HOOK );
		wp_clear_scheduled_hook( self::RECHECK_HOOK );
	}

	/** A recheck in RECHECK_DELAY, unless one is scheduled already. */
	public static function schedule_recheck(): void {
		if ( ! wp_next_scheduled( self::RECHECK_HOOK ) ) {
			wp_schedule_single_event( time() + self::RECHECK_DELAY, self::RECHECK_HOOK );
		}
	}

	/** The minute job. */
	public static function run(): void {
		if ( ! Modgate_Settings::configured() ) {
			return;
		}
		self::poll_events();
		self::recheck();
		self::send_lessons();
	}

	/* ---- the events feed ---------------------------------------------- */

	/**
	 * Apply modgate's events feed (api.md §2.8) from the stored cursor:
	 * each event's state to the WordPress comment with that modgate_id
	 * (approved: approve, held: pending, spam: spam, rejected: trash; reported,
	 * when the site hides reported comments: pending),
	 * without teaching modgate back. The cursor is stored after each page,
	 * so a run that stops half way repeats at most one page, which is
	 * harmless (states are absolute). An expired cursor (410) restarts the
	 * feed from its oldest event. Returns the number of comments changed.
	 */
	public static function poll_events(): int {
		$cursor    = (string) get_option( self::CURSOR_OPTION, '' );
		$changed   = 0;
		$restarted = false;
		for ( $page = 0; $page < self::MAX_PAGES; $page++ ) {
			$res = Modgate_Client::events( $cursor );
			if ( ! is_wp_error( $res ) && 410 === $res['status'] && ! $restarted ) {
				$restarted = true;
				$cursor    = '';
				update_option( self::CURSOR_OPTION, '', false );
				continue;
			}
			if ( ! Modgate_Client::ok( $res ) || ! is_array( $res['body']['events'] ?? null ) ) {
				break;
			}
			foreach ( $res['body']['events'] as $e ) {
				if ( is_array( $e ) && self::apply_event( $e ) ) {
					$changed++;
				}
			}
			$next = $res['body']['next_cursor'] ?? null;
			if ( is_string( $next ) && $next !== $cursor ) {
				$cursor = $next;
				update_option( self::CURSOR_OPTION, $cursor, false );
			}
			if ( count( $res['body']['events'] ) < 100 ) {
				break;
			}
		}
		return $changed;
	}

	/**
	 * One event of the feed. Events about comments this WordPress does not
	 * have (another CMS on the same site, a comment since deleted) are
	 * skipped, and so are events WordPress already reflects: those at or
	 * before the comment's modgate_event, which is the event of the
	 * plugin's own last report (a moderator here trashed it, say) or the
	 * last event applied. So the echo of a report changes nothing, even
	 * after several reports in a row (Spam, then Not spam).
	 *
	 * @param array $e An event: id, state, ...
	 * @return bool Whether a comment changed.
	 */
	private static function apply_event( array $e ): bool {
		$map = array(
			'approved' => 'approve',
			'held'     => 'hold',
			'spam'     => 'spam',
			'rejected' => 'trash',
		);
		// Readers reported it: back to pending until a moderator decides,
		// when the site asks for that (modgate's reports.hide).
		if ( '1' === (string) ( $e['hide'] ?? '' ) ) {
			$map['reported'] = 'hold';
		}
		$state = (string) ( $e['state'] ?? '' );
		$mid   = (string) ( $e['id'] ?? '' );
		if ( ! isset( $map[ $state ] ) || '' === $mid ) {
			return false;
		}
		$ids = get_comments(
			array(
				'meta_key'   => 'modgate_id', // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_key -- one indexed meta_key lookup per event
				'meta_value' => $mid, // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_value
				'status'     => 'any',
				'fields'     => 'ids',
				'number'     => 1,
			)
		);
		if ( empty( $ids ) ) {
			return false;
		}
		$id     = (int) $ids[0];
		$cursor = (string) ( $e['cursor'] ?? '' );
		if ( ! self::after( $cursor, (string) get_comment_meta( $id, 'modgate_event', true ) ) ) {
			return false;
		}
		Modgate_Comments::put_meta( $id, 'modgate_event', $cursor );
		Modgate_Comments::put_meta( $id, 'modgate_state', $state );
		return Modgate_Comments::set_status_quietly( $id, $map[ $state ] );
	}

	/**
	 * Whether feed cursor 'a' comes after 'b' (Redis stream ids, "MS-SEQ";
	 * '' is before everything). An 'a' of another shape counts as after,
	 * so an event is applied rather than lost.
	 *
	 * @param string $a An event's cursor.
	 * @param string $b The cursor to compare with.
	 */
	public static function after( string $a, string $b ): bool {
		if ( ! preg_match( '/^(\d{1,18})-(\d{1,18})$/', $a, $x ) || ! preg_match( '/^(\d{1,18})-(\d{1,18})$/', $b, $y ) ) {
			return true;
		}
		return (int) $x[1] > (int) $y[1] || ( (int) $x[1] === (int) $y[1] && (int) $x[2] > (int) $y[2] );
	}

	/* ---- the recheck --------------------------------------------------- */

	/**
	 * Check again the comments saved while modgate was unreachable (meta
	 * modgate_error), oldest first: accept approves (if WordPress's own
	 * rules would have, Modgate_Comments::wp_publishes()), reject files as
	 * spam, hold keeps it pending; a comment still pending then gets its
	 * delayed moderator e-mail. A comment modgate refuses (400, 413) is
	 * left to the moderator at once, so it never blocks the ones after it;
	 * the first other failure stops the run and schedules another in 20
	 * minutes.
	 * Comments a moderator decided meanwhile are only unmarked. Returns
	 * the number of comments decided.
	 */
	public static function recheck(): int {
		$ids     = get_comments(
			array(
				'meta_key' => 'modgate_error', // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_key -- only comments waiting for a recheck have it
				'status'   => 'any',
				'fields'   => 'ids',
				'number'   => self::RECHECK_BATCH,
				'orderby'  => 'comment_ID',
				'order'    => 'ASC',
			)
		);
		$decided = 0;
		foreach ( $ids as $id ) {
			$id = (int) $id;
			$c  = get_comment( $id );
			if ( ! $c ) {
				continue;
			}
			if ( '0' !== (string) $c->comment_approved ) { // a moderator decided it meanwhile
				self::unmark( $id, false );
				continue;
			}
			$since = (int) get_comment_meta( $id, 'modgate_error', true );
			if ( $since > 0 && time() - $since > self::GIVE_UP_AFTER ) {
				self::unmark( $id, true );
				continue;
			}
			$req = json_decode( (string) get_comment_meta( $id, 'modgate_request', true ), true );
			if ( ! is_array( $req ) || ! isset( $req['comment']['id'] ) ) {
				$req = Modgate_Comments::request_for( self::commentdata( $c ), (string) $c->comment_author_IP, false );
			}
			$req['site'] = (string) Modgate_Settings::get( 'site' );
			$r           = Modgate_Comments::decide( $req );
			if ( $r['refused'] ) { // modgate will refuse it again: the moderator decides
				Modgate_Comments::put_meta( $id, 'modgate_refused', $r['error'] );
				self::unmark( $id, true );
				continue;
			}
			if ( 'error' === $r['decision'] ) {
				Modgate_Comments::put_meta( $id, 'modgate_error_text', $r['error'] );
				wp_clear_scheduled_hook( self::RECHECK_HOOK );
				self::schedule_recheck();
				break;
			}
			Modgate_Comments::store_decision( $id, $r );
			$decided++;
			$email = true;
			if ( 'reject' === $r['decision'] ) {
				Modgate_Comments::set_status_quietly( $id, 'spam' );
				$email = false;
			} elseif ( 'accept' === $r['decision'] && Modgate_Comments::wp_publishes( self::commentdata( $c ) ) ) {
				Modgate_Comments::set_status_quietly( $id, 'approve' );
				$email = false;
			}
			self::unmark( $id, $email );
		}
		return $decided;
	}

	/**
	 * Take a comment off the recheck list; send its delayed moderator
	 * e-mail when 'email' (it still waits for a moderator).
	 *
	 * @param int  $id    The comment.
	 * @param bool $email Send the e-mail.
	 */
	private static function unmark( int $id, bool $email ): void {
		foreach ( array( 'modgate_error', 'modgate_error_text', 'modgate_request' ) as $k ) {
			delete_comment_meta( $id, $k );
		}
		$delayed = (bool) get_comment_meta( $id, 'modgate_delayed_email', true );
		delete_comment_meta( $id, 'modgate_delayed_email' );
		if ( $email && $delayed ) {
			wp_notify_moderator( $id );
		}
	}

	/**
	 * A saved comment as wp_new_comment's data, for a recheck without a
	 * stored request.
	 *
	 * @param WP_Comment $c The comment.
	 */
	private static function commentdata( WP_Comment $c ): array {
		return array(
			'comment_post_ID'      => (int) $c->comment_post_ID,
			'comment_parent'       => (int) $c->comment_parent,
			'comment_content'      => (string) $c->comment_content,
			'comment_author'       => (string) $c->comment_author,
			'comment_author_email' => (string) $c->comment_author_email,
			'comment_author_url'   => (string) $c->comment_author_url,
			'comment_agent'        => (string) $c->comment_agent,
			'comment_author_IP'    => (string) $c->comment_author_IP,
			'comment_type'         => (string) $c->comment_type,
			'user_id'              => (int) $c->user_id,
		);
	}

	/* ---- lessons not yet sent ------------------------------------------ */

	/**
	 * Send again what modgate did not take when a moderator acted: the
	 * reports about comments it holds (meta modgate_report_pending: the
	 * status before, reported against the status now) and the lessons
	 * (modgate_learn_pending); each list stops at its first failure.
	 */
	public static function send_lessons(): void {
		self::resend(
			'modgate_report_pending',
			function ( int $id, string $old ) {
				$now = (string) wp_get_comment_status( $id );
				return isset( Modgate_Comments::STATE_OF[ $old ], Modgate_Comments::STATE_OF[ $now ] )
					? Modgate_Comments::report( $id, $old, $now ) : null;
			}
		);
		self::resend(
			'modgate_learn_pending',
			function ( int $id, string $label ) {
				return in_array( $label, array( 'spam', 'ham' ), true ) ? Modgate_Comments::teach( $id, $label ) : null;
			}
		);
	}

	/**
	 * Send again, oldest batch first, what the comments with meta 'key'
	 * still owe modgate: 'send' gets the comment and the meta's value and
	 * returns whether modgate took it (false stops the run: it is down),
	 * or null for a value that is no longer any use (the meta is dropped).
	 *
	 * @param string   $key  The meta key.
	 * @param callable $send function ( int $id, string $value ): ?bool.
	 */
	private static function resend( string $key, callable $send ): void {
		$ids = get_comments(
			array(
				'meta_key' => $key, // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_key -- only comments with something to send have it
				'status'   => 'any',
				'fields'   => 'ids',
				'number'   => self::RECHECK_BATCH,
			)
		);
		foreach ( $ids as $id ) {
			$ok = $send( (int) $id, (string) get_comment_meta( (int) $id, $key, true ) );
			if ( null === $ok ) {
				delete_comment_meta( (int) $id, $key );
			} elseif ( ! $ok ) {
				break;
			}
		}
	}
}
