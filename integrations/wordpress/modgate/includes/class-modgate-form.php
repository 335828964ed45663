<?php
/**
 * Modgate_Form - what the plugin adds to the comment form (a honeypot and
 * modgate's form token) and the challenge page with the ALTCHA widget.
 *
 * @package modgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * The form's extra fields go in through the comment_form action, which
 * every theme's comment form fires inside <form> (block themes too). The
 * challenge page is the message of the 403 WP_Error that
 * pre_comment_approved returns; it posts the same fields again with the
 * widget's solution.
 */
final class Modgate_Form {

	/** The honeypot field: hidden from people, bots fill it in. */
	const HONEYPOT = 'modgate_hp';

	/** The form token field (GET /v1/form-token, api.md §2.7). */
	const TOKEN = 'modgate_ft';

	/** The version of the bundled widget (npm altcha), for its URL's ?ver=. */
	const ALTCHA_VERSION = '3.2.2';

	/**
	 * Seconds to remember that the site has no captcha (modgate answered
	 * 404 captcha_not_configured): such a site has no form tokens, so pages
	 * stop asking. An hour lets a newly configured captcha take effect soon.
	 */
	const NO_CAPTCHA_TTL = HOUR_IN_SECONDS;

	/**
	 * Seconds to stop asking for form tokens after modgate failed to give
	 * one: while it is down, pages render without the 1 s wait each.
	 */
	const DOWN_TTL = MINUTE_IN_SECONDS;

	/** Registers the hooks. */
	public static function init(): void {
		add_action( 'comment_form', array( __CLASS__, 'fields' ) );
	}

	/**
	 * comment_form: the honeypot (a textarea off screen, out of the tab
	 * order and hidden from screen readers) and, where the site has a
	 * captcha, a fresh form token. Not for users whose comments are not
	 * checked.
	 */
	public static function fields(): void {
		if ( ! Modgate_Settings::configured() || current_user_can( 'moderate_comments' ) ) {
			return; // moderators' comments are not checked: no request for a token either
		}
		echo '<p class="modgate-hp" aria-hidden="true" style="position:absolute!important;left:-10000px!important;width:1px;height:1px;overflow:hidden">'
			. '<label>' . esc_html__( 'Leave this field empty', 'modgate' )
			. ' <textarea name="' . esc_attr( self::HONEYPOT ) . '" tabindex="-1" autocomplete="off"></textarea></label></p>' . "\n";
		$token = self::form_token();
		if ( '' !== $token ) {
			echo '<input type="hidden" name="' . esc_attr( self::TOKEN ) . '" value="' . esc_attr( $token ) . '" />' . "\n";
		}
	}

	/**
	 * A form token from modgate, or '' (no captcha on the site, or modgate
	 * did not answer in time: the form works without one). At most one
	 * short request per page.
	 */
	public static function form_token(): string {
		$site = (string) Modgate_Settings::get( 'site' );
		if ( get_transient( 'modgate_no_captcha' ) === $site || get_transient( 'modgate_token_down' ) ) {
			return '';
		}
		$res = Modgate_Client::form_token();
		if ( Modgate_Client::ok( $res ) && is_string( $res['body']['token'] ?? null ) ) {
			return $res['body']['token'];
		}
		if ( ! is_wp_error( $res ) && 404 === $res['status'] ) {
			set_transient( 'modgate_no_captcha', $site, self::NO_CAPTCHA_TTL );
		} else {
			set_transient( 'modgate_token_down', 1, self::DOWN_TTL );
		}
		return '';
	}

	/**
	 * Whether the plugin has its ALTCHA widget (assets/altcha.min.js, put
	 * there by `make wordpress-plugin`; a copy of the source folder lacks
	 * it). Without it a challenge page could not be solved, so a challenged
	 * comment is kept pending for a moderator instead.
	 */
	public static function widget_present(): bool {
		return file_exists( dirname( MODGATE_PLUGIN_FILE ) . '/assets/altcha.min.js' );
	}

	/**
	 * Seconds a challenge page's signature holds: time to solve the widget
	 * and press the button (seconds, as a person takes), with room for a
	 * reader who goes away for a while; a copy of the page is no pass for
	 * longer than that.
	 */
	const CHALLENGE_TTL = 30 * MINUTE_IN_SECONDS;

	/**
	 * The signature that lets a re-post from the challenge page reuse the
	 * first post's comment id: only for the same post, text, author name,
	 * e-mail and URL, as request_for() sent them to modgate (unslashed,
	 * before kses: both ends sign the same form), and only while 'issued'
	 * (the page's time) is younger than CHALLENGE_TTL. Without it anyone
	 * could send another comment's id and have modgate take their text as
	 * an edit of that comment, or replay the page with another author.
	 *
	 * @param string $id     The comment id.
	 * @param array  $req    The /v1/check request (comment, author).
	 * @param int    $issued Unix time the page was made.
	 */
	private static function signature( string $id, array $req, int $issued ): string {
		$a     = $req['author'] ?? array();
		$parts = array(
			'modgate-challenge-v2',
			$id,
			(string) ( $req['comment']['thread_id'] ?? '' ),
			(string) $issued,
			hash( 'sha256', (string) ( $req['comment']['body'] ?? '' ) ),
			hash( 'sha256', (string) ( $a['name'] ?? '' ) ),
			hash( 'sha256', (string) ( $a['email'] ?? '' ) ),
			hash( 'sha256', (string) ( $a['url'] ?? '' ) ),
		);
		return hash_hmac( 'sha256', implode( '|', $parts ), wp_salt( 'nonce' ) );
	}

	/**
	 * The comment id of a re-post from the challenge page, or null: the
	 * post must carry the widget's solution (a non-empty 'altcha': modgate
	 * then judges it again, and redeems a solution only once), a signature
	 * that holds for this request ('req', as request_for() built it) and is
	 * younger than CHALLENGE_TTL, and an id no WordPress comment carries
	 * yet (one solved challenge publishes one comment). Anything else is
	 * checked as a new comment, under a new id.
	 *
	 * @param array $req The /v1/check request for the re-post.
	 */
	public static function reposted_id( array $req ): ?string {
		// phpcs:disable WordPress.Security.NonceVerification.Missing -- the signature is the check
		$id     = isset( $_POST['modgate_id'] ) && is_string( $_POST['modgate_id'] ) ? sanitize_text_field( wp_unslash( $_POST['modgate_id'] ) ) : '';
		$sig    = isset( $_POST['modgate_sig'] ) && is_string( $_POST['modgate_sig'] ) ? sanitize_text_field( wp_unslash( $_POST['modgate_sig'] ) ) : '';
		$issued = isset( $_POST['modgate_t'] ) && is_string( $_POST['modgate_t'] ) && ctype_digit( $_POST['modgate_t'] ) ? (int) $_POST['modgate_t'] : 0;
		$solved = isset( $_POST['altcha'] ) && is_string( $_POST['altcha'] ) && '' !== trim( $_POST['altcha'] );
		// phpcs:enable
		$age = time() - $issued;
		// a page from the future (a clock step back) is as suspect as an old one
		if ( ! $solved || $age < -60 || $age > self::CHALLENGE_TTL || ! preg_match( '/^[0-9a-f-]{36}$/', $id )
			|| ! hash_equals( self::signature( $id, $req, $issued ), $sig ) ) {
			return null;
		}
		global $wpdb;
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery -- one indexed lookup, must not be cached
		$taken = $wpdb->get_var( $wpdb->prepare( "SELECT comment_id FROM $wpdb->commentmeta WHERE meta_key = 'modgate_id' AND meta_value = %s LIMIT 1", $id ) );
		return null === $taken ? $id : null;
	}

	/**
	 * The challenge page: the ALTCHA widget with the challenge modgate sent
	 * (no extra fetch), inside a form that posts every field of the first
	 * post again, with the comment id, the page's time, their signature
	 * and the widget's 'altcha' field. Everything posted is escaped back
	 * into attributes.
	 *
	 * @param array $r The decision (id, challenge, request).
	 * @return string HTML.
	 */
	public static function challenge_page( array $r ): string {
		$hidden = '';
		// phpcs:ignore WordPress.Security.NonceVerification.Missing -- fields are only echoed back, escaped
		foreach ( wp_unslash( $_POST ) as $name => $value ) {
			if ( ! is_string( $value ) || in_array( $name, array( 'altcha', 'modgate_id', 'modgate_sig', 'modgate_t', 'submit' ), true ) ) {
				continue;
			}
			$hidden .= '<input type="hidden" name="' . esc_attr( (string) $name ) . '" value="' . esc_attr( $value ) . '" />';
		}
		$issued  = time();
		$hidden .= '<input type="hidden" name="modgate_id" value="' . esc_attr( $r['id'] ) . '" />';
		$hidden .= '<input type="hidden" name="modgate_t" value="' . esc_attr( (string) $issued ) . '" />';
		$hidden .= '<input type="hidden" name="modgate_sig" value="' . esc_attr( self::signature( $r['id'], $r['request'], $issued ) ) . '" />';
		$script = plugins_url( 'assets/altcha.min.js', MODGATE_PLUGIN_FILE );
		$script = add_query_arg( 'ver', self::ALTCHA_VERSION, $script );
		return '<script type="module" src="' . esc_url( $script ) . '"></script>'
			. '<h1>' . esc_html__( 'One more step', 'modgate' ) . '</h1>'
			. '<p>' . esc_html__( 'Please confirm that you are a person, then send your comment again.', 'modgate' ) . '</p>'
			. '<form id="modgate-challenge" method="post" action="' . esc_url( site_url( '/wp-comments-post.php' ) ) . '">'
			. $hidden
			. '<altcha-widget name="altcha" challenge="' . esc_attr( (string) wp_json_encode( $r['challenge'], JSON_UNESCAPED_SLASHES ) ) . '"></altcha-widget>'
			. '<p><input type="submit" id="modgate-submit" class="button" value="' . esc_attr__( 'Post Comment', 'modgate' ) . '" /></p>'
			. '</form>';
	}
}
