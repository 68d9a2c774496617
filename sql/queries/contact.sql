-- Contact form submissions.


-- name: insert_submission
INSERT INTO contact_submissions (name, email, company, message)
VALUES ($1, $2, $3, $4)
RETURNING id
