<?php
/**
 * Modgate_Comments - every new comment checked by modgate before it is
 * saved, its status set from the decision, the decision kept as comment
 * meta, and moderators' Spam / Not spam / Approve / Trash reported back
 * to modgate.
 *
 * @package modgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * The flow of one comment through WordPress (wp-includes/comment.php):
 * preprocess_comment (priority 1) sends it to POST /v1/check with a new
 * UUID as comment.id; pre_comment_approved turns the decision into a
 * status, or into a WP_Error (a challenge page, or a discarded comment);
 * wp_insert_comment stores the decision as meta. REST comments take
 * rest_pre_insert_comment instead, which comes after WordPress's own
 * status is set, so the status is set there.
 *
 * Meta kept on a checked comment: modgate_id, modgate_decision,
 * modgate_score, modgate_reasons (JSON); modgate_error (the time modgate
 * could not be asked) with modgate_request (what to send again) and
 * modgate_delayed_email until the recheck; modgate_refused (modgate
 * refused to check it, 400/413: left to WordPress's moderators);
 * modgate_learned (the label last taught) or modgate_learn_pending (one
 * still to send); for a comment modgate holds, modgate_state (its state
 * in modgate's queue, from the events feed or this plugin's own report),
 * modgate_event (the newest feed event about it that WordPress already
 * reflects) and modgate_report_pending (the WordPress status before a
 * moderator's change modgate did not take yet).
 */
final class Modgate_Comments {

	/**
	 * The decision about the comment this request is saving: set by the
	 * check, read by pre_comment_approved and stored by wp_insert_comment,
	 * then cleared. One PHP request saves one comment from a form; the
	 * post id guards against another insert in the same request.
	 *
	 * @var array|null
	 */
	private static $pending = null;

	/**
	 * True while the plugin itself changes a comment's status (a decision
	 * from the events feed, a recheck): such changes are not taught back.
	 *
	 * @var bool
	 */
	private static $quiet = false;

	/** Reason codes of blatant spam, which the 'discard' setting drops unsaved. */
	const BLATANT = array( 'honeypot', 'blocked_word', 'rate_limited' );

	/** Registers the hooks. */
	public static function init(): void {
		add_filter( 'preprocess_comment', array( __CLASS__, 'on_preprocess' ), 1 );
		add_filter( 'rest_pre_insert_comment', array( __CLASS__, 'on_rest_insert' ), 1, 2 );
		add_filter( 'pre_comment_approved', array( __CLASS__, 'on_pre_approved' ), 99, 2 );
		add_action( 'wp_insert_comment', array( __CLASS__, 'on_inserted' ), 10, 2 );
		add_filter( 'notify_moderator', array( __CLASS__, 'on_notify_moderator' ), 10, 2 );
		add_action( 'transition_comment_status', array( __CLASS__, 'on_transition' ), 10, 3 );
		add_action( 'delete_comment', array( __CLASS__, 'on_delete' ), 10, 2 );
	}

	/* ---- checking a new comment ------------------------------------ */

	/**
	 * preprocess_comment: check a comment from the web form (or any caller
	 * of wp_new_comment). Editors and admins (moderate_comments) and
	 * pingbacks are not checked. WordPress hands this filter its data
	 * slashed (wp_slash, as $_POST comes): modgate gets it unslashed, the
	 * text as the reader typed it, as REST and teach() send it. A bug of
	 * the plugin never blocks the form: any exception counts as modgate
	 * unreachable (the comment is kept pending and rechecked).
	 *
	 * @param array $commentdata The comment about to be saved (slashed).
	 * @return array It, unchanged.
	 */
	public static function on_preprocess( $commentdata ) {
		self::$pending = null;
		if ( ! is_array( $commentdata ) || ! self::wants_check( $commentdata ) ) {
			return $commentdata;
		}
		$req = null;
		try {
			$req = self::request_for( wp_unslash( $commentdata ), self::client_ip( (string) ( $_SERVER['REMOTE_ADDR'] ?? '' ) ), true );
			self::$pending = self::decide( $req );
		} catch ( Throwable $e ) {
			self::$pending = self::failure( $req, 'plugin error: ' . get_class( $e ) );
		}
		self::$pending['post_id'] = (int) ( $commentdata['comment_post_ID'] ?? 0 );
		return $commentdata;
	}

	/**
	 * rest_pre_insert_comment: check a comment created through the REST
	 * API. WordPress has set its status already, so the decision is applied
	 * here: a challenge becomes pending (an API client cannot show the
	 * widget), a discarded reject a 403 error.
	 *
	 * @param array|WP_Error  $prepared The comment for wp_insert_comment.
	 * @param WP_REST_Request $request  The request.
	 * @return array|WP_Error
	 */
	public static function on_rest_insert( $prepared, $request ) {
		self::$pending = null;
		if ( is_wp_error( $prepared ) || ! is_array( $prepared ) || ! self::wants_check( $prepared ) ) {
			return $prepared;
		}
		$req = null;
		try {
			$req = self::request_for( $prepared, self::client_ip( (string) ( $prepared['comment_author_IP'] ?? '' ) ), false );
			$r   = self::decide( $req );
		} catch ( Throwable $e ) {
			$r = self::failure( $req, 'plugin error: ' . get_class( $e ) );
		}
		$r['post_id'] = (int) ( $prepared['comment_post_ID'] ?? 0 );
		$status       = self::status_for( $r, $prepared['comment_approved'] ?? 1, $prepared );
		if ( is_wp_error( $status ) && 'modgate_challenge' === $status->get_error_code() ) {
			$status = 0;
		}
		if ( is_wp_error( $status ) ) {
			return $status;
		}
		$prepared['comment_approved'] = $status;
		self::$pending                = $r;
		return $prepared;
	}

	/**
	 * pre_comment_approved: the status from modgate's decision.
	 *
	 * @param int|string|WP_Error $approved    WordPress's own status.
	 * @param array               $commentdata The comment.
	 * @return int|string|WP_Error
	 */
	public static function on_pre_approved( $approved, $commentdata ) {
		$r = self::$pending;
		if ( null === $r || (int) ( $commentdata['comment_post_ID'] ?? 0 ) !== $r['post_id'] ) {
			return $approved;
		}
		return self::status_for( $r, $approved, $commentdata );
	}

	/**
	 * The status of a comment modgate decided 'r' about, given WordPress's
	 * own 'approved' (wp_allow_comment()'s: 1, 0, spam or trash). accept
	 * keeps WordPress's, except that a 0 becomes 1 when modgate decides
	 * what is published and only the rules modgate replaces held it
	 * (wp_publishes()); hold and unreachable give pending (0); reject
	 * gives spam, or a 403 WP_Error that saves nothing when the site
	 * discards blatant spam; challenge gives a 403 WP_Error whose message is
	 * the page with the captcha widget (wp-comments-post.php shows it), or
	 * pending when the widget file is missing (a reader could not solve it).
	 * WordPress's spam and trash (its disallowed keys) always stand.
	 *
	 * @param array               $r           A result of decide() or failure().
	 * @param int|string|WP_Error $approved    WordPress's status.
	 * @param array               $commentdata The comment.
	 * @return int|string|WP_Error
	 */
	private static function status_for( array $r, $approved, array $commentdata ) {
		if ( is_wp_error( $approved ) || 'trash' === $approved ) {
			return $approved;
		}
		switch ( $r['decision'] ) {
			case 'accept':
				// WordPress held it (0) by the rules modgate replaces only, not by
				// another plugin's filter: full rules hold it, the others do not
				if ( in_array( $approved, array( 0, '0' ), true ) && Modgate_Settings::get( 'decides' )
					&& ! self::rules_publish( $commentdata, false ) && self::rules_publish( $commentdata, true ) ) {
					return 1;
				}
				return $approved;
			case 'reject':
				if ( Modgate_Settings::get( 'discard' ) && array_intersect( self::BLATANT, array_column( $r['reasons'], 'code' ) ) ) {
					return new WP_Error( 'modgate_discarded', esc_html__( 'Your comment was not accepted.', 'modgate' ), 403 );
				}
				return 'spam';
			case 'challenge':
				if ( 'spam' === $approved ) {
					return $approved;
				}
				if ( ! Modgate_Form::widget_present() ) {
					return 0;
				}
				return new WP_Error( 'modgate_challenge', Modgate_Form::challenge_page( $r ), 403 );
			default: // hold, error
				return 'spam' === $approved ? 'spam' : 0;
		}
	}

	/**
	 * wp_insert_comment: store the decision about the comment just saved.
	 * An unreachable modgate leaves modgate_error, the request to send
	 * again and a delayed moderator e-mail, and schedules the recheck.
	 *
	 * @param int        $id      The new comment's id.
	 * @param WP_Comment $comment The comment.
	 */
	public static function on_inserted( $id, $comment ): void {
		$r = self::$pending;
		if ( null === $r || (int) $comment->comment_post_ID !== $r['post_id'] ) {
			return;
		}
		self::$pending = null;
		self::put_meta( (int) $id, 'modgate_id', $r['id'] );
		if ( $r['refused'] ) {
			self::put_meta( (int) $id, 'modgate_refused', $r['error'] );
			return; // nothing to check again: the moderator e-mail goes out now
		}
		if ( 'error' === $r['decision'] ) {
			self::put_meta( (int) $id, 'modgate_error', (string) time() );
			self::put_meta( (int) $id, 'modgate_error_text', $r['error'] );
			self::put_meta( (int) $id, 'modgate_request', wp_json_encode( $r['request'], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE ) );
			self::put_meta( (int) $id, 'modgate_delayed_email', '1' );
			Modgate_Cron::schedule_recheck();
			return;
		}
		self::store_decision( (int) $id, $r );
	}

	/**
	 * Store a decision as meta (decision, score, reasons) and clear any
	 * error of an earlier attempt.
	 *
	 * @param int   $id The comment.
	 * @param array $r  A result of decide().
	 */
	public static function store_decision( int $id, array $r ): void {
		self::put_meta( $id, 'modgate_decision', $r['decision'] );
		self::put_meta( $id, 'modgate_score', (string) $r['score'] );
		self::put_meta( $id, 'modgate_reasons', wp_json_encode( $r['reasons'], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE ) );
		foreach ( array( 'modgate_error', 'modgate_error_text', 'modgate_request', 'modgate_refused' ) as $k ) {
			delete_comment_meta( $id, $k );
		}
	}

	/**
	 * Whether WordPress's own Discussion rules publish a comment modgate
	 * accepted ('c': wp_allow_comment()'s fields). With modgate deciding
	 * (setting 'decides', the default) this is core's check_comment()
	 * without the two rules modgate's filters replace: "Comment author must
	 * have a previously approved comment" (on by default, it would hold
	 * every first comment) and "Hold a comment if it contains N or more
	 * links" (modgate has its own link rules). "Comment must be manually
	 * approved" and the Comment Moderation words, which a site owner sets on
	 * purpose, still hold it. Without 'decides', check_comment() as is: the
	 * stricter of WordPress and modgate wins.
	 *
	 * @param array $c The comment's fields.
	 */
	public static function wp_publishes( array $c ): bool {
		return self::rules_publish( $c, (bool) Modgate_Settings::get( 'decides' ) );
	}

	/**
	 * check_comment() on 'c', without the rules modgate replaces when
	 * 'relaxed' (see wp_publishes()).
	 *
	 * @param array $c       The comment's fields.
	 * @param bool  $relaxed Turn the replaced rules off.
	 */
	private static function rules_publish( array $c, bool $relaxed ): bool {
		$replaced = array( 'pre_option_comment_previously_approved', 'pre_option_comment_max_links' );
		if ( $relaxed ) {
			foreach ( $replaced as $hook ) {
				add_filter( $hook, array( __CLASS__, 'zero' ), PHP_INT_MAX );
			}
		}
		try {
			return check_comment(
				(string) ( $c['comment_author'] ?? '' ),
				(string) ( $c['comment_author_email'] ?? '' ),
				(string) ( $c['comment_author_url'] ?? '' ),
				(string) ( $c['comment_content'] ?? '' ),
				(string) ( $c['comment_author_IP'] ?? '' ),
				(string) ( $c['comment_agent'] ?? '' ),
				(string) ( $c['comment_type'] ?? 'comment' )
			);
		} finally {
			if ( $relaxed ) {
				foreach ( $replaced as $hook ) {
					remove_filter( $hook, array( __CLASS__, 'zero' ), PHP_INT_MAX );
				}
			}
		}
	}

	/**
	 * 0 as an option's value: a pre_option_ filter that turns a rule off
	 * (false would mean "not filtered").
	 */
	public static function zero(): int {
		return 0;
	}

	/**
	 * notify_moderator: no e-mail yet for a comment waiting for its
	 * recheck (modgate was unreachable); the recheck sends it if the
	 * comment still needs a moderator.
	 *
	 * @param bool $maybe Whether to notify.
	 * @param int  $id    The comment.
	 */
	public static function on_notify_moderator( $maybe, $id ) {
		if ( get_comment_meta( (int) $id, 'modgate_delayed_email', true ) ) {
			return false;
		}
		return $maybe;
	}

	/**
	 * Whether modgate should see this comment: the plugin is configured,
	 * the author cannot moderate comments, and it is not a pingback or
	 * trackback (which WordPress's own rules handle). Every other type
	 * that comes through the form or REST is checked: a shop's 'review'
	 * is as open to spam as a 'comment'.
	 *
	 * @param array $c The comment data.
	 */
	private static function wants_check( array $c ): bool {
		$type = (string) ( $c['comment_type'] ?? '' );
		return Modgate_Settings::configured() && ! current_user_can( 'moderate_comments' )
			&& ! in_array( $type, array( 'pingback', 'trackback' ), true );
	}

	/**
	 * The /v1/check request for a comment. From the web form ('form'
	 * true) it also carries the form's honeypot and form token, and on a
	 * re-post from the challenge page the widget's solution as captcha and
	 * the first post's comment id (when Modgate_Form::reposted_id() lets it
	 * be reused; else a new one).
	 *
	 * @param array  $c    The comment data (wp_new_comment's or REST's), unslashed.
	 * @param string $ip   The commenter's address.
	 * @param bool   $form Whether it came from the comment form.
	 * @return array The request.
	 */
	public static function request_for( array $c, string $ip, bool $form ): array {
		$post_id = (int) ( $c['comment_post_ID'] ?? 0 );
		$parent  = (int) ( $c['comment_parent'] ?? 0 );
		$body    = (string) ( $c['comment_content'] ?? '' );
		$link    = $post_id ? get_permalink( $post_id ) : false;
		$user_id = (int) ( $c['user_id'] ?? ( $c['user_ID'] ?? 0 ) );
		$req     = array(
			'site'    => (string) Modgate_Settings::get( 'site' ),
			'comment' => array_filter(
				array(
					'id'         => wp_generate_uuid4(),
					'body'       => $body,
					'thread_id'  => $post_id ? (string) $post_id : null,
					'parent_id'  => $parent ? (string) $parent : null,
					'permalink'  => $link ? self::cut( $link, 2048 ) : null,
					'type'       => 'comment',
					'created_at' => gmdate( 'Y-m-d\TH:i:s\Z' ),
				),
				array( __CLASS__, 'filled' )
			),
			'author'  => array_filter(
				array(
					'id'    => $user_id > 0 ? (string) $user_id : null,
					'name'  => self::cut( (string) ( $c['comment_author'] ?? '' ), 256 ),
					'email' => self::cut( (string) ( $c['comment_author_email'] ?? '' ), 320 ),
					'url'   => self::cut( (string) ( $c['comment_author_url'] ?? '' ), 2048 ),
				),
				array( __CLASS__, 'filled' )
			),
			'client'  => array_filter(
				array(
					'ip'         => $ip,
					'user_agent' => self::cut( (string) ( $c['comment_agent'] ?? wp_unslash( $_SERVER['HTTP_USER_AGENT'] ?? '' ) ), 1024 ),
					'referrer'   => self::cut( wp_unslash( (string) ( $_SERVER['HTTP_REFERER'] ?? '' ) ), 2048 ),
				),
				array( __CLASS__, 'filled' )
			),
		);
		if ( empty( $req['author'] ) ) {
			unset( $req['author'] );
		}
		// phpcs:disable WordPress.Security.NonceVerification.Missing -- a public comment form has no nonce; modgate's checks stand in for one
		if ( $form && isset( $_POST[ Modgate_Form::HONEYPOT ] ) && is_string( $_POST[ Modgate_Form::HONEYPOT ] ) ) {
			$req['honeypot'] = wp_unslash( $_POST[ Modgate_Form::HONEYPOT ] );
		}
		if ( $form && ! empty( $_POST[ Modgate_Form::TOKEN ] ) && is_string( $_POST[ Modgate_Form::TOKEN ] ) ) {
			$req['form_token'] = self::cut( sanitize_text_field( wp_unslash( $_POST[ Modgate_Form::TOKEN ] ) ), 512 );
		}
		$id = $form ? Modgate_Form::reposted_id( $req ) : null;
		if ( null !== $id ) { // reposted_id() holds only with a non-empty altcha
			$req['comment']['id'] = $id;
			$req['captcha']       = self::cut( sanitize_text_field( wp_unslash( $_POST['altcha'] ) ), 16384 );
		}
		// phpcs:enable
		return $req;
	}

	/**
	 * Ask modgate about 'req'. The result: id, decision (accept, hold,
	 * reject, challenge, or 'error' when modgate could not decide), score,
	 * reasons, challenge, the request (without its captcha, to send again),
	 * error (a text for people) and refused. An answer the plugin cannot
	 * use (not JSON, no known decision, a challenge without its challenge)
	 * is no decision: the comment waits for the recheck. 'refused' is set
	 * when modgate refused the comment itself (400, 413: sending it again
	 * gets the same answer), so nobody waits for a recheck of it.
	 *
	 * @param array $req A request of request_for().
	 */
	public static function decide( array $req ): array {
		$res = Modgate_Client::check( $req );
		$b   = Modgate_Client::ok( $res ) ? $res['body'] : null;
		$d   = is_array( $b ) ? ( $b['decision'] ?? null ) : null;
		if ( ! in_array( $d, array( 'accept', 'hold', 'reject', 'challenge' ), true )
			|| ( 'challenge' === $d && ! is_array( $b['challenge'] ?? null ) ) ) {
			$why = is_array( $b ) ? 'HTTP 200 without a decision the plugin knows' : Modgate_Client::error_text( $res );
			if ( ! is_array( $b ) && ! is_wp_error( $res ) && 200 === $res['status'] ) {
				$why = 'HTTP 200 that is not a JSON object';
			}
			$r            = self::failure( $req, $why );
			$r['refused'] = ! is_wp_error( $res ) && in_array( $res['status'], array( 400, 413 ), true );
			return $r;
		}
		unset( $req['captcha'] );
		return array(
			'id'        => (string) $req['comment']['id'],
			'decision'  => $d,
			'score'     => is_numeric( $b['score'] ?? null ) ? (float) $b['score'] : 0.0,
			'reasons'   => self::reasons_of( $b['reasons'] ?? null ),
			'challenge' => 'challenge' === $d ? $b['challenge'] : null,
			'request'   => $req,
			'error'     => '',
			'refused'   => false,
		);
	}

	/**
	 * The reasons of an answer as the plugin keeps and shows them: objects
	 * with a string code, and only string or number fields (an answer of
	 * another shape must not reach the status rules or wp-admin's pages).
	 *
	 * @param mixed $reasons The answer's reasons.
	 * @return array<int, array<string, string|int|float>>
	 */
	private static function reasons_of( $reasons ): array {
		$out = array();
		foreach ( is_array( $reasons ) ? $reasons : array() as $r ) {
			if ( ! is_array( $r ) || ! is_string( $r['code'] ?? null ) ) {
				continue;
			}
			$out[] = array_filter(
				$r,
				function ( $v, $k ) {
					return is_string( $k ) && ( is_string( $v ) || is_int( $v ) || is_float( $v ) );
				},
				ARRAY_FILTER_USE_BOTH
			);
		}
		return $out;
	}

	/**
	 * The result for a comment modgate could not decide: it is kept
	 * pending and checked again later.
	 *
	 * @param array|null $req  The request, when it was built.
	 * @param string     $why  Why, for the comment screen.
	 */
	private static function failure( ?array $req, string $why ): array {
		if ( is_array( $req ) ) {
			unset( $req['captcha'] );
		}
		return array(
			'id'        => is_array( $req ) ? (string) $req['comment']['id'] : wp_generate_uuid4(),
			'decision'  => 'error',
			'score'     => 0.0,
			'reasons'   => array(),
			'challenge' => null,
			'request'   => $req,
			'error'     => $why,
			'refused'   => false,
		);
	}

	/**
	 * The commenter's address: the connection's ('remote'), or, when a
	 * trusted proxy header is set, the last address in that header (the
	 * one the nearest proxy added; earlier ones are the client's word).
	 *
	 * @param string $remote REMOTE_ADDR or what WordPress stored.
	 */
	public static function client_ip( string $remote ): string {
		$header = (string) Modgate_Settings::get( 'ip_header' );
		if ( '' !== $header ) {
			$var = 'HTTP_' . strtoupper( str_replace( '-', '_', $header ) );
			$raw = isset( $_SERVER[ $var ] ) ? sanitize_text_field( wp_unslash( $_SERVER[ $var ] ) ) : '';
			$parts = array_map( 'trim', explode( ',', $raw ) );
			$last  = end( $parts );
			if ( is_string( $last ) && false !== filter_var( $last, FILTER_VALIDATE_IP ) ) {
				return $last;
			}
		}
		return '' !== $remote ? $remote : '0.0.0.0';
	}

	/* ---- moderators' decisions reach modgate ------------------------ */

	/** WordPress's comment statuses => the state modgate's queue gives each. */
	const STATE_OF = array(
		'approved'   => 'approved',
		'unapproved' => 'held',
		'spam'       => 'spam',
		'trash'      => 'rejected',
	);

	/**
	 * transition_comment_status: tell modgate what a moderator decided. A
	 * comment modgate holds (in_queue()) is reported as a moderator's
	 * action on it (report()), so it leaves modgate's queue as WordPress's
	 * moderator left it; any other comment teaches the filter as Akismet
	 * reports to its service: to spam from approved or pending is spam,
	 * from spam to approved or pending is ham. A change by any user who may
	 * edit the comment is a moderator's (an author moderates comments on
	 * their own posts: edit_comment, not moderate_comments). Changes the
	 * plugin makes itself, by users who may not edit the comment, and
	 * during imports are not reported.
	 *
	 * @param string     $new     New status.
	 * @param string     $old     Old status.
	 * @param WP_Comment $comment The comment.
	 */
	public static function on_transition( $new, $old, $comment ): void {
		if ( $new === $old || self::$quiet || ( defined( 'WP_IMPORTING' ) && WP_IMPORTING )
			|| ! current_user_can( 'edit_comment', (int) $comment->comment_ID ) || ! Modgate_Settings::configured() ) {
			return;
		}
		$id = (int) $comment->comment_ID;
		if ( self::in_queue( $id ) ) {
			if ( isset( self::STATE_OF[ $new ], self::STATE_OF[ $old ] ) ) {
				// a change modgate has not taken yet started from the status then
				$pending = (string) get_comment_meta( $id, 'modgate_report_pending', true );
				self::report( $id, isset( self::STATE_OF[ $pending ] ) ? $pending : $old, $new );
			}
			return;
		}
		$label = null;
		if ( 'spam' === $new && in_array( $old, array( 'approved', 'unapproved' ), true ) ) {
			$label = 'spam';
		} elseif ( 'spam' === $old && in_array( $new, array( 'approved', 'unapproved' ), true ) ) {
			$label = 'ham';
		}
		if ( null !== $label ) {
			self::teach( $id, $label );
		}
	}

	/**
	 * delete_comment: a comment modgate holds that a moderator deletes for
	 * good (Delete Permanently, or Trash where EMPTY_TRASH_DAYS is 0) is
	 * reported as trashed (reject), before its meta goes with it. Not
	 * retried when modgate is down: nothing would be left to retry from.
	 *
	 * @param string     $id      The comment's id.
	 * @param WP_Comment $comment The comment.
	 */
	public static function on_delete( $id, $comment ): void {
		$id = (int) $id;
		if ( self::$quiet || ( defined( 'WP_IMPORTING' ) && WP_IMPORTING ) || ! current_user_can( 'edit_comment', $id )
			|| ! Modgate_Settings::configured() || ! self::in_queue( $id ) ) {
			return;
		}
		$old = wp_get_comment_status( $comment );
		if ( isset( self::STATE_OF[ $old ] ) ) {
			self::report( $id, $old, 'trash' );
		}
	}

	/**
	 * Whether modgate keeps this comment in its queue: it held it (or its
	 * feed told of it). Other comments modgate never stored.
	 *
	 * @param int $id The comment.
	 */
	public static function in_queue( int $id ): bool {
		return '' !== (string) get_comment_meta( $id, 'modgate_id', true )
			&& ( 'hold' === get_comment_meta( $id, 'modgate_decision', true ) || '' !== (string) get_comment_meta( $id, 'modgate_state', true ) );
	}

	/**
	 * The action that takes a comment from state 'from' in modgate's queue
	 * to where a WordPress moderator's change from status 'old' to 'new'
	 * puts it, or null for none: Approve is approve, Not spam ham (also
	 * back to pending: the lesson is what it says), Spam spam, Trash reject
	 * (not of spam: trashing spam keeps the lesson), Unapprove or Restore
	 * to pending hold (modgate's undo).
	 *
	 * @param string $from modgate's state.
	 * @param string $old  WordPress's old status.
	 * @param string $new  WordPress's new status.
	 */
	public static function action_for( string $from, string $old, string $new ): ?string {
		$to = 'spam' === $old && in_array( $new, array( 'approved', 'unapproved' ), true ) ? 'approved' : ( self::STATE_OF[ $new ] ?? null );
		if ( null === $to || $to === $from || ( 'rejected' === $to && 'spam' === $from ) ) {
			return null;
		}
		$actions = array(
			'approved' => 'spam' === $from ? 'ham' : 'approve',
			'held'     => 'hold',
			'spam'     => 'spam',
			'rejected' => 'reject',
		);
		return $actions[ $to ];
	}

	/**
	 * Report a WordPress moderator's change of a comment modgate holds
	 * (from status 'old' to 'new') as an action on it in modgate's queue,
	 * from the state the plugin last knew (modgate_state, else held). The
	 * answer's state and event id are kept: the feed's event about this
	 * action then changes nothing in WordPress (Modgate_Cron skips events
	 * up to modgate_event). A 409 (modgate's moderators decided it
	 * meanwhile) keeps the state modgate answered and stops: the feed
	 * brings their decision, the first one wins, nothing loops. A comment
	 * modgate no longer stores (404, retention) is taught by its text.
	 * modgate unreachable, 5xx or 429: modgate_report_pending keeps 'old'
	 * for the cron job. Returns whether it is settled.
	 *
	 * @param int    $id  The comment.
	 * @param string $old WordPress's status before the change.
	 * @param string $new WordPress's status now.
	 */
	public static function report( int $id, string $old, string $new ): bool {
		$mid    = (string) get_comment_meta( $id, 'modgate_id', true );
		$from   = (string) get_comment_meta( $id, 'modgate_state', true );
		$from   = '' !== $from ? $from : 'held';
		$action = self::action_for( $from, $old, $new );
		if ( null === $action ) {
			delete_comment_meta( $id, 'modgate_report_pending' );
			return true;
		}
		$res = Modgate_Client::act(
			$mid,
			array(
				'action' => $action,
				'from'   => $from,
			)
		);
		$b   = is_wp_error( $res ) ? null : $res['body'];
		if ( Modgate_Client::ok( $res ) && is_string( $b['state'] ?? null ) ) {
			self::put_meta( $id, 'modgate_state', $b['state'] );
			if ( is_string( $b['event_id'] ?? null ) ) {
				self::put_meta( $id, 'modgate_event', $b['event_id'] );
			}
			if ( preg_match( '/^(?:learned|moved to|already) (spam|ham)\b/', (string) ( $b['filter'] ?? '' ), $m ) ) {
				self::put_meta( $id, 'modgate_learned', $m[1] );
			} elseif ( 0 === strpos( (string) ( $b['filter'] ?? '' ), 'unlearned' ) ) {
				delete_comment_meta( $id, 'modgate_learned' );
			}
			delete_comment_meta( $id, 'modgate_report_pending' );
			return true;
		}
		if ( ! is_wp_error( $res ) && 409 === $res['status'] && is_string( $b['state'] ?? null ) ) {
			self::put_meta( $id, 'modgate_state', $b['state'] );
			delete_comment_meta( $id, 'modgate_report_pending' );
			return true;
		}
		if ( ! is_wp_error( $res ) && 404 === $res['status'] ) { // no longer stored in modgate (retention)
			delete_comment_meta( $id, 'modgate_report_pending' );
			delete_comment_meta( $id, 'modgate_state' );
			delete_comment_meta( $id, 'modgate_decision' );
			return in_array( $action, array( 'spam', 'ham' ), true ) ? self::teach( $id, $action ) : true;
		}
		return self::not_taken( $id, $res, 'modgate_report_pending', $old );
	}

	/**
	 * What to do when modgate did not take a report or a lesson: when it
	 * may take it later (unreachable, 5xx, 429), keep 'value' in meta
	 * 'key' for the cron job and return false; a 4xx modgate will give
	 * again (a comment it cannot take) is noted, not retried: true.
	 *
	 * @param int            $id    The comment.
	 * @param array|WP_Error $res   modgate's answer.
	 * @param string         $key   modgate_report_pending or modgate_learn_pending.
	 * @param string         $value What to send again.
	 */
	private static function not_taken( int $id, $res, string $key, string $value ): bool {
		if ( is_wp_error( $res ) || $res['status'] >= 500 || 429 === $res['status'] ) {
			self::put_meta( $id, $key, $value );
			return false;
		}
		self::put_meta( $id, 'modgate_learn_error', Modgate_Client::error_text( $res ) );
		delete_comment_meta( $id, $key );
		return true;
	}

	/**
	 * Send one lesson about a comment modgate does not hold: its text. A
	 * lesson modgate did not take (unreachable, 5xx, 429) is kept as
	 * modgate_learn_pending and sent again by the cron job. Returns
	 * whether modgate took it.
	 *
	 * @param int    $id    The comment.
	 * @param string $label spam or ham.
	 */
	public static function teach( int $id, string $label ): bool {
		$c = get_comment( $id );
		if ( ! $c ) {
			return true;
		}
		$mid = (string) get_comment_meta( $id, 'modgate_id', true );
		$req = array(
			'site'    => (string) Modgate_Settings::get( 'site' ),
			'comment' => array_filter(
				array(
					'id'        => '' !== $mid ? $mid : 'wp-' . $id,
					'body'      => (string) $c->comment_content,
					'thread_id' => (string) $c->comment_post_ID,
					'parent_id' => $c->comment_parent ? (string) $c->comment_parent : null,
				),
				'is_string'
			),
			'label'   => $label,
		);
		if ( '' !== (string) $c->comment_author_url ) {
			$req['author'] = array( 'url' => self::cut( (string) $c->comment_author_url, 2048 ) );
		}
		$res = Modgate_Client::learn( $req );
		if ( Modgate_Client::ok( $res ) ) {
			self::put_meta( $id, 'modgate_learned', $label );
			delete_comment_meta( $id, 'modgate_learn_pending' );
			return true;
		}
		return self::not_taken( $id, $res, 'modgate_learn_pending', $label );
	}

	/**
	 * Change a comment's status without teaching modgate (the change came
	 * from modgate: its events feed, or a recheck). A status the comment
	 * has already is left alone. 'status' is approve, hold, spam or trash.
	 * Returns whether anything changed.
	 *
	 * @param int    $id     The comment.
	 * @param string $status The new status.
	 */
	public static function set_status_quietly( int $id, string $status ): bool {
		$now  = wp_get_comment_status( $id );
		$want = array(
			'approve' => 'approved',
			'hold'    => 'unapproved',
			'spam'    => 'spam',
			'trash'   => 'trash',
		);
		if ( ! isset( $want[ $status ] ) || $want[ $status ] === $now ) {
			return false;
		}
		self::$quiet = true;
		try {
			if ( 'spam' === $status ) {
				$ok = wp_spam_comment( $id );
			} elseif ( 'trash' === $status ) {
				$ok = wp_trash_comment( $id );
			} else {
				$ok = wp_set_comment_status( $id, $status );
			}
		} finally {
			self::$quiet = false;
		}
		return (bool) $ok;
	}

	/* ---- helpers ------------------------------------------------------ */

	/**
	 * update_comment_meta with the value slashed: WordPress unslashes meta
	 * on the way in, which would eat the backslashes of JSON escapes.
	 *
	 * @param int    $id    The comment.
	 * @param string $key   Meta key.
	 * @param string $value Meta value.
	 */
	public static function put_meta( int $id, string $key, string $value ): void {
		update_comment_meta( $id, $key, wp_slash( $value ) );
	}

	/**
	 * Whether 'v' is a non-empty string (array_filter's test for fields
	 * modgate should not get empty).
	 *
	 * @param mixed $v A value.
	 */
	public static function filled( $v ): bool {
		return is_string( $v ) && '' !== $v;
	}

	/**
	 * 's' cut to at most 'max' bytes without splitting a UTF-8 character
	 * (modgate refuses longer fields; the limits are api.md §2.1's).
	 *
	 * @param string $s   Text.
	 * @param int    $max Bytes.
	 */
	private static function cut( string $s, int $max ): string {
		return strlen( $s ) <= $max ? $s : mb_strcut( $s, 0, $max, 'UTF-8' );
	}
}
