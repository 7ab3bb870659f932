# nbgrader configuration of the course "Where the noise lives" (docs/teaching.md).
# Copy it into the course folder, next to source/, release/, submitted/ and gradebook.db.
c = get_config()  # noqa: F821 - provided by nbgrader when it reads this file

c.CourseDirectory.course_id = "where-the-noise-lives"
# Seconds a cell may run before autograde interrupts it (it then scores 0, and the next cells
# run). The slowest cell of any graded lesson takes 14.5 s (lesson 6c, training three broken
# VAEs for its diagnosis exercise; idle 2-core CPU, 2 threads; `python -m vae_utils.classroom
# timeout notebooks/*.ipynb` reads it from the executed notebooks). 7x margin, rounded up: one
# thread per grading job instead of two (x2), slower machines (x2.5), a busy grader (x1.4). An
# answer that loops forever costs two minutes.
c.Execute.timeout = 120
# Seconds to wait for a cell's last output after it finished (nbclient's default, 4 s, is too
# short on a busy grader: autograde then fails the whole submission with CellTimeoutError).
c.Execute.iopub_timeout = 30
# The stub a student sees in place of each solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# On a JupyterHub with nbgrader's exchange, uncomment and set the shared folder (writable
# by every user; docs/teaching.md, "On a JupyterHub"):
# c.Exchange.root = "/srv/nbgrader/exchange"
# Grading a class in parallel (`python -m vae_utils.classroom autograde lesson1 --jobs 8`)
# needs a gradebook that takes concurrent writers, such as PostgreSQL:
# c.CourseDirectory.db_url = "postgresql+psycopg://grader@localhost/where_the_noise_lives"
# Feedback HTML loads MathJax from a CDN (nbgrader's template ignores HTMLExporter.mathjax_url):
# after generate_feedback, `python -m vae_utils.classroom offline-feedback ASSIGNMENT
# --mathjax-url URL` points it at a copy the hub serves (docs/teaching.md, "Feedback offline").

# Feedback released to students (generate_feedback) shows each check cell without its hidden
# tests: nbgrader's ClearHiddenTests removes the lines between ### BEGIN HIDDEN TESTS and
# ### END HIDDEN TESTS, and the course's HideGraderTracebacks shows a failed graded cell's
# message instead of a traceback that would quote them. A hidden test's output (a ✓, or a
# message) names no hidden input. The hidden inputs come from the secret in the environment
# variable VAE_COURSE_SECRET where autograde runs, never from this file (docs/teaching.md).
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402
from vae_utils.checks.feedback import HideGraderTracebacks  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, HideGraderTracebacks, CSSHTMLHeaderPreprocessor]
